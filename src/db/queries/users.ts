import type { Queryable } from '../pool.ts';
import type { UserId } from '../../model/ids.ts';

export type UserRow = { id: UserId; email: string; displayName: string | null };

/** Inserts the user, or returns the existing one with that email. */
export async function upsertUserByEmail(db: Queryable, p: { email: string }): Promise<UserRow> {
  const res = await db.query<{ id: UserId; email: string; display_name: string | null }>(
    `insert into users (email) values ($1)
     on conflict (email) do update set email = excluded.email
     returning id, email, display_name`,
    [p.email],
  );
  const row = res.rows[0]!;
  return { id: row.id, email: row.email, displayName: row.display_name };
}
