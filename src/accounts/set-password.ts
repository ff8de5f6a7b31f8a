/**
 * An operator sets a user's password (`switchyard user set-password`): how the owner that
 * `tenant create` made, who has no password, signs in to the UI, and how a locked-out user is
 * recovered. Every live session of the user ends; the change is audited in each of their tenants.
 */
import type pg from 'pg';
import { selectMembershipsOfUser } from '../db/queries/memberships.ts';
import { revokeUserSessions } from '../db/queries/sessions.ts';
import { selectUserByEmail, updateUserPassword } from '../db/queries/users.ts';
import { withTenant, withUser } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { UserId } from '../model/ids.ts';
import { recordAudit } from '../observability/audit.ts';
import { hashPassword, MIN_PASSWORD_LENGTH } from '../security/passwords.ts';

export type PasswordSet = { userId: UserId; email: string; sessionsEnded: number };

export async function setUserPassword(
  pool: pg.Pool,
  p: { email: string; password: string; actor: { kind: 'system'; id: string } },
): Promise<PasswordSet> {
  const email = p.email.trim().toLowerCase();
  if (p.password.length < MIN_PASSWORD_LENGTH) {
    throw new SwitchyardError(
      'E_VALIDATION',
      `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`,
      { field: 'password' },
    );
  }
  const user = await selectUserByEmail(pool, { email });
  if (!user) throw new SwitchyardError('E_NOT_FOUND', `No user with the email ${email}.`);
  const passwordHash = await hashPassword(p.password);
  // As that user: row security lets the runtime role change only the user in scope.
  const sessionsEnded = await withUser(pool, user.id, async (db) => {
    await updateUserPassword(db, { id: user.id, passwordHash });
    return revokeUserSessions(db, { userId: user.id });
  });
  const memberships = await withUser(pool, user.id, (db) =>
    selectMembershipsOfUser(db, { userId: user.id }),
  );
  for (const m of memberships) {
    await withTenant(pool, m.tenantId, (db) =>
      recordAudit(db, {
        tenantId: m.tenantId,
        actorKind: p.actor.kind,
        actorId: p.actor.id,
        action: 'user.password_set',
        targetKind: 'user',
        targetId: user.id,
        metadata: { sessionsEnded },
      }),
    );
  }
  return { userId: user.id, email: user.email, sessionsEnded };
}
