import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinApps } from '../../src/model/builtin-apps.ts';
import { cliEnvFor, runCli } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

/**
 * A tenant created by an earlier release lacks the built-in apps added since (the SaaS
 * catalogue): `switchyard migrate` (and `start`) add them, by key, and nothing else.
 */
let db: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  env = cliEnvFor(db, { SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
});
afterAll(async () => {
  await db.drop();
});

async function appsOf(tenantId: string) {
  const r = await db.ownerPool.query<{ key: string; is_builtin: boolean; actions: number }>(
    `select a.key, a.is_builtin, (select count(*)::int from actions x where x.app_id = a.id) as actions
       from apps a where a.tenant_id = $1 order by a.key`,
    [tenantId],
  );
  return r.rows;
}

describe('built-in apps of a new release', () => {
  it("are added to existing tenants by migrate, leaving the tenants' own apps alone", async () => {
    const old = await makeTenant(db.pool, 'Before the catalogue');
    const own = await makeTenant(db.pool, 'Has its own stripe');
    const complete = await appsOf(old.tenantId);
    // As an earlier release left them: no SaaS catalogue; the second tenant made its own
    // app under one of the keys the catalogue now uses.
    await db.ownerPool.query(
      `delete from apps where tenant_id = any($1) and key in ('github', 'slack', 'stripe')`,
      [[old.tenantId, own.tenantId]],
    );
    await db.ownerPool.query(
      `insert into apps (tenant_id, key, name, auth_kind, is_builtin)
       values ($1, 'stripe', 'Our Stripe proxy', 'none', false)`,
      [own.tenantId],
    );
    const action = await db.ownerPool.query<{ id: string }>(
      `select x.id from actions x join apps a on a.id = x.app_id
        where a.tenant_id = $1 and a.key = 'http' limit 1`,
      [old.tenantId],
    );

    const migrated = await runCli(['migrate'], env);
    expect(migrated.stderr).not.toMatch(/error/i);
    expect(migrated.code).toBe(0);
    expect(await appsOf(old.tenantId)).toEqual(complete);
    const ownApps = await appsOf(own.tenantId);
    expect(ownApps.find((a) => a.key === 'stripe')).toEqual({
      key: 'stripe',
      is_builtin: false,
      actions: 0,
    });
    expect(ownApps.map((a) => a.key)).toEqual(complete.map((a) => a.key));
    // Existing apps keep their ids (workflows reference their actions by id).
    const still = await db.ownerPool.query('select 1 from actions where id = $1', [
      action.rows[0]!.id,
    ]);
    expect(still.rowCount).toBe(1);

    // Again: nothing to add.
    const before = await db.ownerPool.query<{ n: number }>('select count(*)::int as n from apps');
    expect((await runCli(['migrate'], env)).code).toBe(0);
    const after = await db.ownerPool.query<{ n: number }>('select count(*)::int as n from apps');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
    expect(complete.filter((a) => a.is_builtin)).toHaveLength(builtinApps.length);
  });
});
