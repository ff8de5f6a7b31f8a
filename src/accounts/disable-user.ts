/**
 * An operator disables a user (`switchyard user disable`), e.g. someone who left the company
 * and is a member of several tenants: they cannot sign in, every live session of theirs ends,
 * and the API tokens they created stop working (a token acts for its creator; migration 0029).
 * Nothing is deleted: `user enable` gives them back their access and their tokens. Audited in
 * each of their tenants.
 */
import type pg from 'pg';
import { selectMembershipsOfUser } from '../db/queries/memberships.ts';
import { revokeUserSessions } from '../db/queries/sessions.ts';
import { setUserDisabled } from '../db/queries/users.ts';
import { withSystem, withTenant, withUser } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { UserId } from '../model/ids.ts';
import { recordAudit } from '../observability/audit.ts';

export type UserAccessChanged = {
  userId: UserId;
  email: string;
  disabled: boolean;
  sessionsEnded: number;
  tenants: number;
};

export async function setUserAccess(
  pool: pg.Pool,
  p: { email: string; disabled: boolean; actor: { kind: 'system'; id: string } },
): Promise<UserAccessChanged> {
  const email = p.email.trim().toLowerCase();
  const userId = await withSystem(pool, (db) =>
    setUserDisabled(db, { email, disabled: p.disabled }),
  );
  if (!userId) throw new SwitchyardError('E_NOT_FOUND', `No user with the email ${email}.`);
  // Sessions would already be refused (touch_session checks disabled_at); ending them too means
  // enabling the user again does not bring old sessions back.
  const sessionsEnded = p.disabled
    ? await withUser(pool, userId, (db) => revokeUserSessions(db, { userId }))
    : 0;
  const memberships = await withUser(pool, userId, (db) => selectMembershipsOfUser(db, { userId }));
  for (const m of memberships) {
    await withTenant(pool, m.tenantId, (db) =>
      recordAudit(db, {
        tenantId: m.tenantId,
        actorKind: p.actor.kind,
        actorId: p.actor.id,
        action: p.disabled ? 'user.disabled' : 'user.enabled',
        targetKind: 'user',
        targetId: userId,
        metadata: { sessionsEnded },
      }),
    );
  }
  return { userId, email, disabled: p.disabled, sessionsEnded, tenants: memberships.length };
}
