/**
 * Users are global identities under row security (migration 0007): the runtime role sees its
 * signed-in user and the members of its current tenant, never a password hash. What sign-in,
 * invitations and setup need beyond that goes through SECURITY DEFINER functions that each do
 * one thing (user_for_sign_in, ensure_user, count_users, set_user_password).
 */
import type { Queryable } from '../pool.ts';
import type { UserId } from '../../model/ids.ts';

export type UserRow = { id: UserId; email: string; displayName: string | null };
export type UserWithPassword = UserRow & { passwordHash: string | null; disabledAt: Date | null };

type Raw = { id: UserId; email: string; display_name: string | null };

/** Inserts the user, or returns the existing one with that email. */
export async function upsertUserByEmail(db: Queryable, p: { email: string }): Promise<UserRow> {
  const res = await db.query<Raw>('select id, email, display_name from ensure_user($1)', [p.email]);
  const row = res.rows[0]!;
  return { id: row.id, email: row.email, displayName: row.display_name };
}

export async function selectUserByEmail(
  db: Queryable,
  p: { email: string },
): Promise<UserWithPassword | undefined> {
  const res = await db.query<Raw & { password_hash: string | null; disabled_at: Date | null }>(
    'select id, email, display_name, password_hash, disabled_at from user_for_sign_in($1)',
    [p.email],
  );
  const r = res.rows[0];
  return (
    r && {
      id: r.id,
      email: r.email,
      displayName: r.display_name,
      passwordHash: r.password_hash,
      disabledAt: r.disabled_at,
    }
  );
}

export async function selectUserById(
  db: Queryable,
  p: { id: UserId },
): Promise<UserRow | undefined> {
  const res = await db.query<Raw>('select id, email, display_name from users where id = $1', [
    p.id,
  ]);
  const r = res.rows[0];
  return r && { id: r.id, email: r.email, displayName: r.display_name };
}

/** The signed-in user's own password, or the first password of an account that has none. */
export async function updateUserPassword(
  db: Queryable,
  p: { id: UserId; passwordHash: string },
): Promise<void> {
  await db.query('select set_user_password($1, $2)', [p.id, p.passwordHash]);
}

export async function countUsers(db: Queryable): Promise<number> {
  const res = await db.query<{ n: number }>('select count_users() as n');
  return res.rows[0]?.n ?? 0;
}

/**
 * Disables (or enables again) the user with this email, in the system scope only (migration
 * 0029); the user's id, or undefined when no user has that email.
 */
export async function setUserDisabled(
  db: Queryable,
  p: { email: string; disabled: boolean },
): Promise<UserId | undefined> {
  const res = await db.query<{ id: UserId | null }>('select set_user_disabled($1, $2) as id', [
    p.email,
    p.disabled,
  ]);
  return res.rows[0]?.id ?? undefined;
}
