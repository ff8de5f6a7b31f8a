/**
 * A signed-in user changes their own password (the current one first), or signs out their
 * other sessions. Both end every other live session of the user — a password changed because
 * it leaked must not leave an attacker's session alive — and keep the one making the change.
 * Each is audited in every tenant of the user, as `user set-password` is.
 */
import type pg from 'pg';
import { selectMembershipsOfUser } from '../db/queries/memberships.ts';
import { revokeOtherUserSessions } from '../db/queries/sessions.ts';
import { selectUserByEmail, selectUserById, updateUserPassword } from '../db/queries/users.ts';
import { withTenant, withUser } from '../db/tenant.ts';
import type { RequestMeta } from '../model/actor.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { UserId } from '../model/ids.ts';
import { recordAudit } from '../observability/audit.ts';
import { hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from '../security/passwords.ts';

type Caller = { userId: UserId; sessionId: string } & RequestMeta;

export async function changeOwnPassword(
  pool: pg.Pool,
  p: Caller & { currentPassword: string; newPassword: string },
): Promise<{ sessionsEnded: number }> {
  if (p.newPassword.length < MIN_PASSWORD_LENGTH) {
    throw new SwitchyardError(
      'E_VALIDATION',
      `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`,
      { field: 'newPassword' },
    );
  }
  const user = await withUser(pool, p.userId, (db) => selectUserById(db, { id: p.userId }));
  const withHash = user ? await selectUserByEmail(pool, { email: user.email }) : undefined;
  // E_VALIDATION on the field, not E_UNAUTHENTICATED: the caller is signed in, and the web app
  // treats E_UNAUTHENTICATED as "your session is gone".
  if (!withHash?.passwordHash || !(await verifyPassword(withHash.passwordHash, p.currentPassword)))
    throw new SwitchyardError('E_VALIDATION', 'The current password is wrong.', {
      field: 'currentPassword',
    });
  const passwordHash = await hashPassword(p.newPassword);
  const sessionsEnded = await withUser(pool, p.userId, async (db) => {
    await updateUserPassword(db, { id: p.userId, passwordHash });
    return revokeOtherUserSessions(db, { userId: p.userId, keepId: p.sessionId });
  });
  await auditInEachTenant(pool, p, 'user.password_changed', { sessionsEnded });
  return { sessionsEnded };
}

export async function signOutOtherSessions(pool: pg.Pool, p: Caller): Promise<number> {
  const sessionsEnded = await withUser(pool, p.userId, (db) =>
    revokeOtherUserSessions(db, { userId: p.userId, keepId: p.sessionId }),
  );
  await auditInEachTenant(pool, p, 'user.sessions_revoked', { sessionsEnded });
  return sessionsEnded;
}

async function auditInEachTenant(
  pool: pg.Pool,
  p: Caller,
  action: string,
  metadata: Record<string, unknown>,
): Promise<void> {
  const memberships = await withUser(pool, p.userId, (db) =>
    selectMembershipsOfUser(db, { userId: p.userId }),
  );
  for (const m of memberships) {
    await withTenant(pool, m.tenantId, (db) =>
      recordAudit(db, {
        tenantId: m.tenantId,
        actorKind: 'user',
        actorId: p.userId,
        action,
        targetKind: 'user',
        targetId: p.userId,
        metadata,
        ip: p.ip,
        requestId: p.requestId,
      }),
    );
  }
}
