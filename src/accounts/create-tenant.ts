import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { insertApiToken } from '../db/queries/api-tokens.ts';
import { insertMembership } from '../db/queries/memberships.ts';
import { insertTenant } from '../db/queries/tenants.ts';
import { upsertUserByEmail } from '../db/queries/users.ts';
import { withTenant } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { ApiTokenId, TenantId, UserId } from '../model/ids.ts';
import { recordAudit } from '../observability/audit.ts';
import { generateApiToken } from '../security/tokens.ts';
import { seedBuiltinApps } from './builtin-apps.ts';

export type CreatedTenant = {
  tenantId: TenantId;
  tenantName: string;
  ownerUserId: UserId;
  ownerEmail: string;
  apiTokenId: ApiTokenId;
  /** Shown exactly once; only its hash is stored. */
  apiToken: string;
};

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Creates a tenant, its owner (or reuses the user with that email) and the owner's first API token. */
export async function createTenantWithOwner(
  pool: pg.Pool,
  p: { name: string; ownerEmail: string; actor: { kind: 'system' | 'user'; id: string | null } },
): Promise<CreatedTenant> {
  const name = p.name.trim();
  const email = p.ownerEmail.trim().toLowerCase();
  if (name.length === 0 || name.length > 200) {
    throw new SwitchyardError('E_VALIDATION', 'Tenant name must be 1 to 200 characters.', {
      field: 'name',
    });
  }
  if (!emailPattern.test(email)) {
    throw new SwitchyardError(
      'E_VALIDATION',
      `Owner email "${p.ownerEmail}" is not an email address.`,
      {
        field: 'ownerEmail',
      },
    );
  }
  const tenantId = randomUUID() as TenantId;
  const token = generateApiToken(tenantId);
  return withTenant(pool, tenantId, async (db) => {
    const tenant = await insertTenant(db, { id: tenantId, name });
    const user = await upsertUserByEmail(db, { email });
    await insertMembership(db, { tenantId, userId: user.id, role: 'owner' });
    await seedBuiltinApps(db, tenantId);
    const created = await insertApiToken(db, {
      tenantId,
      name: 'First owner token',
      role: 'owner',
      prefix: token.prefix,
      secretHash: token.hash,
      createdBy: user.id,
      expiresAt: null,
    });
    const actor = { actorKind: p.actor.kind, actorId: p.actor.id } as const;
    await recordAudit(db, {
      tenantId,
      ...actor,
      action: 'tenant.created',
      targetKind: 'tenant',
      targetId: tenantId,
      metadata: { name },
    });
    await recordAudit(db, {
      tenantId,
      ...actor,
      action: 'membership.created',
      targetKind: 'user',
      targetId: user.id,
      metadata: { role: 'owner' },
    });
    await recordAudit(db, {
      tenantId,
      ...actor,
      action: 'api_token.created',
      targetKind: 'api_token',
      targetId: created.id,
      metadata: { prefix: token.prefix, role: 'owner' },
    });
    return {
      tenantId: tenant.id,
      tenantName: tenant.name,
      ownerUserId: user.id,
      ownerEmail: user.email,
      apiTokenId: created.id,
      apiToken: token.token,
    };
  });
}
