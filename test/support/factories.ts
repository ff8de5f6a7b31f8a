import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { createTenantWithOwner, type CreatedTenant } from '../../src/accounts/create-tenant.ts';

/** A tenant with an owner and the owner's first API token. */
export async function makeTenant(
  pool: pg.Pool,
  name = `Tenant ${randomUUID().slice(0, 8)}`,
): Promise<CreatedTenant> {
  return createTenantWithOwner(pool, {
    name,
    ownerEmail: `owner-${randomUUID().slice(0, 8)}@example.test`,
    actor: { kind: 'system', id: 'test' },
  });
}
