/**
 * A hot statement in a transaction of its own (tenantStatements, systemStatements): BEGIN with
 * the scope's settings, the statement and COMMIT leave together on the pipelined connection.
 * The boundaries of withTenant and withSystem hold as they do there: a tenant's statement sees
 * and writes its tenant only, a failed one keeps nothing, and the pooled connection carries
 * neither a tenant nor an open transaction to its next user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/db/pool.ts';
import {
  lastStatement,
  systemStatements,
  tenantStatements,
  withTenant,
} from '../../src/db/tenant.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let a: TenantId;
let b: TenantId;
beforeAll(async () => {
  db = await createTestDatabase();
  a = (await makeTenant(db.pool, 'Tenant A')).tenantId;
  b = (await makeTenant(db.pool, 'Tenant B')).tenantId;
});
afterAll(async () => {
  await db.drop();
});

const named = async (name: string) =>
  (
    await db.ownerPool.query<{ tenant_id: string }>(
      'select tenant_id from workflows where name = $1',
      [name],
    )
  ).rows.map((r) => r.tenant_id);

/** A pool of one connection: what a statement leaves on it, its next user meets. */
const onePool = (applicationName: string) =>
  createPool({
    url: db.appUrl,
    max: 1,
    connectTimeoutMs: 5_000,
    applicationName,
    logger: testLogger,
  });

describe('a statement in a transaction of its own', () => {
  it('commits what it writes, and reads and writes its own tenant only', async () => {
    const name = `one-${Date.now()}`;
    const res = await tenantStatements(db.pool, a).query(
      'insert into workflows (tenant_id, name) values ($1, $2) returning tenant_id',
      [a, name],
    );
    expect(res.rows).toEqual([{ tenant_id: a }]);
    expect(await named(name)).toEqual([a]);
    await db.ownerPool.query(`insert into workflows (tenant_id, name) values ($1, $2)`, [b, name]);
    const seen = await tenantStatements(db.pool, a).query<{ tenant_id: string }>({
      text: 'select tenant_id from workflows where name = $1',
      values: [name],
    });
    expect(seen.rows).toEqual([{ tenant_id: a }]);
  });

  it("refuses another tenant's row, and keeps nothing of a statement that failed", async () => {
    const evil = `evil-${Date.now()}`;
    await expect(
      tenantStatements(db.pool, a).query(
        'insert into workflows (tenant_id, name) values ($1, $2)',
        [b, evil],
      ),
    ).rejects.toMatchObject({ code: '42501' });
    expect(await named(evil)).toEqual([]);
    // Written first, failed after: the COMMIT sent behind it rolls the whole of it back.
    const half = `half-${Date.now()}`;
    await expect(
      tenantStatements(db.pool, a).query(
        `with w as (insert into workflows (tenant_id, name) values ($1, $2) returning 1 as one)
         select one / 0 from w`,
        [a, half],
      ),
    ).rejects.toMatchObject({ code: '22012' });
    expect(await named(half)).toEqual([]);
  });

  it('leaves its connection with no tenant and no transaction for the next user', async () => {
    const one = onePool('one-statement-test');
    try {
      await tenantStatements(one, a).query('select 1');
      await expect(tenantStatements(one, a).query('select 1 / 0')).rejects.toMatchObject({
        code: '22012',
      });
      const after = await one.query<{ tenant: string | null; tx: string | null; n: number }>(
        `select current_setting('app.tenant_id', true) as tenant,
                txid_current_if_assigned()::text as tx,
                (select count(*)::int from workflows) as n`,
      );
      // No tenant set, nothing open: row security shows the next user no workflow at all.
      expect({ ...after.rows[0], tenant: after.rows[0]!.tenant ?? '' }).toEqual({
        tenant: '',
        tx: null,
        n: 0,
      });
      const status = await one.connect();
      try {
        expect(status.getTransactionStatus()).toBe('I');
      } finally {
        status.release();
      }
    } finally {
      await one.end();
    }
  });

  it('commits a transaction with its last statement, or keeps none of it when that fails', async () => {
    const insert = 'insert into workflows (tenant_id, name) values ($1, $2)';
    const kept = `kept-${Date.now()}`;
    await withTenant(db.pool, a, async (tx) => {
      await tx.query(insert, [a, `${kept}-1`]);
      await lastStatement(tx, (last) => last.query(insert, [a, `${kept}-2`]));
    });
    expect([...(await named(`${kept}-1`)), ...(await named(`${kept}-2`))]).toEqual([a, a]);
    const lost = `lost-${Date.now()}`;
    await expect(
      withTenant(db.pool, a, async (tx) => {
        await tx.query(insert, [a, `${lost}-1`]);
        await lastStatement(tx, (last) => last.query(insert, [b, `${lost}-2`]));
      }),
    ).rejects.toMatchObject({ code: '42501' });
    expect([...(await named(`${lost}-1`)), ...(await named(`${lost}-2`))]).toEqual([]);
    // One statement: a second one would run after the COMMIT, outside the transaction.
    await expect(
      withTenant(db.pool, a, (tx) =>
        lastStatement(tx, async (last) => {
          await last.query('select 1');
          return last.query('select 2');
        }),
      ),
    ).rejects.toThrow(/one statement/);
  });

  it('runs prepared statements on their generic plan when asked, in that transaction only', async () => {
    const one = onePool('generic-plan-test');
    const count = {
      name: 'sy_test_generic_plan',
      text: 'select count(*)::int as n from workflows where name = $1',
      values: ['none'],
    };
    const plans = async () =>
      (
        await one.query<{ mode: string; generic: number; custom: number }>(
          `select current_setting('plan_cache_mode') as mode,
                  generic_plans::int as generic, custom_plans::int as custom
             from pg_prepared_statements where name = $1`,
          [count.name],
        )
      ).rows[0];
    try {
      await tenantStatements(one, a, { genericPlans: true }).query(count);
      await withTenant(one, a, (tx) => tx.query(count), { genericPlans: true });
      // Planned once for every value; the connection goes back to PostgreSQL's own choice.
      expect(await plans()).toEqual({ mode: 'auto', generic: 2, custom: 0 });
      await tenantStatements(one, a).query(count);
      expect(await plans()).toEqual({ mode: 'auto', generic: 2, custom: 1 });
    } finally {
      await one.end();
    }
  });

  it('opens the system scope for system statements only', async () => {
    const tenants = 'select count(*)::int as n from tenants';
    const asSystem = await systemStatements(db.pool).query<{ n: number }>(tenants);
    const asTenant = await tenantStatements(db.pool, a).query<{ n: number }>(tenants);
    expect(asSystem.rows[0]!.n).toBeGreaterThanOrEqual(2);
    expect(asTenant.rows[0]!.n).toBe(1);
    // The runtime role cannot open it by asking: the scope is the system pool's role's.
    const forged = await tenantStatements(db.pool, a).query<{ n: number }>(
      `select set_config('app.scope', 'system', true), (${tenants}) as n`,
    );
    expect(forged.rows[0]!.n).toBe(1);
  });
});
