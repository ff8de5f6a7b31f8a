import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { insertMembership } from '../db/queries/memberships.ts';
import { insertTenant } from '../db/queries/tenants.ts';
import { countUsers, updateUserPassword, upsertUserByEmail } from '../db/queries/users.ts';
import { withTenant } from '../db/tenant.ts';
import type { RequestMeta } from '../model/actor.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { TenantId, UserId } from '../model/ids.ts';
import { recordAudit } from '../observability/audit.ts';
import { hashPassword, MIN_PASSWORD_LENGTH } from '../security/passwords.ts';
import { seedBuiltinApps } from './builtin-apps.ts';

/** Serialises concurrent first-start setups: exactly one can create the first user. */
const SETUP_LOCK_KEY = 7_242_016_003;
const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** First start only: while no user exists, creates the first tenant and its owner. */
export async function setupFirstTenant(
  pool: pg.Pool,
  p: { tenantName: string; email: string; password: string } & RequestMeta,
): Promise<{ tenantId: TenantId; userId: UserId }> {
  const email = p.email.trim().toLowerCase();
  const name = p.tenantName.trim();
  if (!emailPattern.test(email))
    throw new SwitchyardError('E_VALIDATION', `"${p.email}" is not an email address.`, {
      field: 'email',
    });
  if (name.length === 0 || name.length > 200)
    throw new SwitchyardError('E_VALIDATION', 'Tenant name must be 1 to 200 characters.', {
      field: 'tenantName',
    });
  if (p.password.length < MIN_PASSWORD_LENGTH) {
    throw new SwitchyardError(
      'E_VALIDATION',
      `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`,
      { field: 'password' },
    );
  }
  const passwordHash = await hashPassword(p.password);
  const tenantId = randomUUID() as TenantId;
  return withTenant(pool, tenantId, async (db) => {
    await db.query('select pg_advisory_xact_lock($1)', [SETUP_LOCK_KEY]);
    if ((await countUsers(db)) > 0) {
      throw new SwitchyardError('E_SETUP_DONE', 'Switchyard is already set up: sign in instead.');
    }
    await insertTenant(db, { id: tenantId, name });
    const user = await upsertUserByEmail(db, { email });
    await updateUserPassword(db, { id: user.id, passwordHash });
    await insertMembership(db, { tenantId, userId: user.id, role: 'owner' });
    await seedBuiltinApps(db, tenantId);
    await recordAudit(db, {
      tenantId,
      actorKind: 'user',
      actorId: user.id,
      action: 'tenant.created',
      targetKind: 'tenant',
      targetId: tenantId,
      metadata: { name, via: 'setup' },
      ip: p.ip,
      requestId: p.requestId,
    });
    return { tenantId, userId: user.id };
  });
}
