/**
 * Tenant isolation over every tenant table, found from the catalog: a table added by a later
 * migration is covered without editing this test (it only needs a seed row in
 * test/support/seed-all-tables.ts, and the test says so when it is missing).
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertRuntimeRoleIsSafe } from '../../src/db/roles.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { seedAllTables } from '../support/seed-all-tables.ts';

/** SECURITY DEFINER functions reviewed to touch no tenant data beyond their own row. */
const reviewedDefinerFunctions = [
  'audit_events_chain',
  'ensure_daily_partitions',
  // Retention (migration 0006): deletes only the current tenant's oldest audit events, older
  // than a floor of 30 days and of the tenant's own setting (test/integration/retention-audit).
  'purge_audit_events',
  // Retention: drops one day partition of execution_logs or access_log outside a floor; reads
  // no rows (test/integration/retention-partitions).
  'drop_daily_partition',
  // Users and sessions (migration 0007; test/integration/db-system-scope): each reaches one
  // user by exact email, one session by its secret's hash or id, or counts/deletes expired
  // sessions; set_user_password refuses another user's existing password.
  'user_for_sign_in',
  'ensure_user',
  'count_users',
  'set_user_password',
  'touch_session',
  'revoke_session',
  'count_expired_sessions',
  'purge_expired_sessions',
  // Operators disable a user (migration 0029): executable by the system role only (the runtime
  // role is refused: test/integration/cli-user).
  'set_user_disabled',
];
/** Policies other than tenant_isolation, each reviewed (see docs/adr/0002-tenant-isolation-by-rls.md). */
const reviewedExtraPolicies = [
  'own_memberships',
  'member_tenants',
  'system_scope',
  'system_scope_cron',
  'system_scope_webhook',
  'system_scope_cron_update',
  'system_scope_read',
  'anonymous_entries',
  // Retention lists tenants (select only, id order) under the system scope to visit each one;
  // a tenant row holds its name, nothing its members wrote (test/integration/retention-job).
  'system_scope_retention',
  // Users and sessions (0007): a user's own row and sessions, and a tenant's members.
  'own_user',
  'tenant_members',
  'own_sessions',
  // RESTRICTIVE (0026): narrows the tenant policy; of a tenant's versions only test versions
  // (drafts a test run pinned) may be deleted, by retention. Real versions stay immutable.
  'only_test_versions_deleted',
  // The waiting-runs gauge (0033): the system scope counts waiting StepRuns (select only,
  // status 'waiting'); a waiting StepRun holds no output yet, its input is the wait's own.
  'system_scope_waiting',
];

let db: TestDatabase;
let a: TenantId;
let b: TenantId;
let tables: string[];

beforeAll(async () => {
  db = await createTestDatabase();
  a = (await makeTenant(db.pool, 'Tenant A')).tenantId;
  b = (await makeTenant(db.pool, 'Tenant B')).tenantId;
  await seedAllTables(db.pool, a);
  await seedAllTables(db.pool, b);
  const res = await db.ownerPool.query<{ relname: string }>(`
    select c.relname from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
       and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
     order by 1`);
  tables = res.rows.map((r) => r.relname);
});
afterAll(async () => {
  await db.drop();
});

/** Runs statements as the runtime role (or `pool`'s) in a transaction that is always rolled back. */
async function asRuntime<T>(
  settings: { tenant?: string; scope?: string; pool?: pg.Pool },
  fn: (q: (sql: string, params?: unknown[]) => Promise<QueryOutcome>) => Promise<T>,
): Promise<T> {
  const client = await (settings.pool ?? db.pool).connect();
  try {
    await client.query('begin');
    await client.query(
      "select set_config('app.tenant_id', $1, true), set_config('app.scope', $2, true)",
      [settings.tenant ?? '', settings.scope ?? ''],
    );
    return await fn((sql, params) => attempt(client, sql, params));
  } finally {
    await client.query('rollback');
    client.release();
  }
}

type QueryOutcome =
  | { ok: true; rows: Array<Record<string, unknown>>; rowCount: number }
  | { ok: false; error: string };

async function attempt(
  client: pg.PoolClient,
  sql: string,
  params: unknown[] = [],
): Promise<QueryOutcome> {
  await client.query('savepoint s');
  try {
    const res = await client.query(sql, params);
    await client.query('release savepoint s');
    return {
      ok: true,
      rows: res.rows as Array<Record<string, unknown>>,
      rowCount: res.rowCount ?? 0,
    };
  } catch (err) {
    await client.query('rollback to savepoint s');
    return { ok: false, error: (err as Error).message };
  }
}

const refused = /row-level security|permission denied|append-only/;

describe('tenant isolation (every tenant table, from the catalog)', () => {
  it('finds the tenant tables and has seed rows for both tenants in each', async () => {
    expect(tables.length).toBeGreaterThanOrEqual(17);
    for (const t of [...tables]) {
      const res = await db.ownerPool.query<{ tenant_id: string; n: number }>(
        `select tenant_id, count(*)::int as n from ${t} where tenant_id in ($1, $2) group by 1`,
        [a, b],
      );
      const seen = new Set(res.rows.map((r) => r.tenant_id));
      expect(
        seen,
        `table ${t} has no seed row: add one to test/support/seed-all-tables.ts`,
      ).toEqual(new Set([a, b]));
    }
  });

  it('has row-level security enabled and forced on every tenant table and on tenants', async () => {
    const res = await db.ownerPool.query<{
      relname: string;
      relrowsecurity: boolean;
      relforcerowsecurity: boolean;
    }>(
      `select relname, relrowsecurity, relforcerowsecurity from pg_class where relname = any($1) and relnamespace = 'public'::regnamespace`,
      [[...tables, 'tenants']],
    );
    for (const r of res.rows) {
      expect({
        table: r.relname,
        enabled: r.relrowsecurity,
        forced: r.relforcerowsecurity,
      }).toEqual({
        table: r.relname,
        enabled: true,
        forced: true,
      });
    }
    expect(res.rows).toHaveLength(tables.length + 1);
  });

  it('scopes every policy to the current tenant, apart from reviewed exceptions', async () => {
    const res = await db.ownerPool.query<{
      tablename: string;
      policyname: string;
      qual: string | null;
      with_check: string | null;
    }>(
      `select tablename, policyname, qual, with_check from pg_policies where schemaname = 'public'`,
    );
    for (const p of res.rows) {
      if (reviewedExtraPolicies.includes(p.policyname)) continue;
      expect(p.policyname, `${p.tablename}.${p.policyname}`).toBe('tenant_isolation');
      expect(p.qual, `${p.tablename} USING`).toMatch(/app_tenant_id\(\)/);
      expect(p.with_check, `${p.tablename} WITH CHECK`).toMatch(/app_tenant_id\(\)/);
    }
  });

  it('shows nothing without a tenant', async () => {
    await asRuntime({}, async (q) => {
      for (const t of [...tables, 'tenants']) {
        const r = await q(`select count(*)::int as n from ${t}`);
        if (r.ok) expect({ table: t, rows: r.rows[0]?.n }).toEqual({ table: t, rows: 0 });
        else expect(r.error).toMatch(/permission denied/);
      }
    });
  });

  it('shows tenant A only its own rows, and all of them', async () => {
    await asRuntime({ tenant: a }, async (q) => {
      for (const t of tables) {
        const r = await q(
          `select count(*)::int as n, count(*) filter (where tenant_id <> $1)::int as foreign from ${t}`,
          [a],
        );
        if (!r.ok) {
          expect(r.error, t).toMatch(/permission denied/);
          continue;
        }
        const owner = await db.ownerPool.query<{ n: number }>(
          `select count(*)::int as n from ${t} where tenant_id = $1`,
          [a],
        );
        expect({ table: t, ...r.rows[0] }).toEqual({ table: t, n: owner.rows[0]?.n, foreign: 0 });
      }
      const tenants = await q('select id from tenants');
      expect(tenants.ok && tenants.rows).toEqual([{ id: a }]);
    });
  });

  it("does not let tenant A update or delete tenant B's rows", async () => {
    await asRuntime({ tenant: a }, async (q) => {
      for (const t of tables) {
        for (const sql of [
          `update ${t} set tenant_id = tenant_id where tenant_id = $1`,
          `delete from ${t} where tenant_id = $1`,
        ]) {
          const r = await q(sql, [b]);
          if (r.ok)
            expect({ table: t, sql, changed: r.rowCount }).toEqual({ table: t, sql, changed: 0 });
          else expect(r.error, `${t}: ${sql}`).toMatch(refused);
        }
      }
      const r = await q('update tenants set name = name where id = $1', [b]);
      expect(r.ok && r.rowCount).toBe(0);
    });
    const stillThere = await db.ownerPool.query<{ n: number }>(
      'select count(*)::int as n from connections where tenant_id = $1',
      [b],
    );
    expect(stillThere.rows[0]?.n).toBe(1);
  });

  it('does not let tenant A insert rows into tenant B or move its rows there', async () => {
    // Generated columns (e.g. name_key) cannot be written: copy every other column.
    const columnsOf = new Map<string, string>();
    for (const t of tables) {
      const r = await db.ownerPool.query<{ cols: string }>(
        `select string_agg(quote_ident(attname), ', ' order by attnum) as cols
           from pg_attribute
          where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = ''`,
        [t],
      );
      columnsOf.set(t, r.rows[0]!.cols);
    }
    await asRuntime({ tenant: a }, async (q) => {
      for (const t of tables) {
        const cols = columnsOf.get(t)!;
        const insert = await q(
          `insert into ${t} (${cols}) overriding system value
           select ${cols} from (
             select (jsonb_populate_record(null::${t}, to_jsonb(x) || jsonb_build_object('tenant_id', $2::uuid))).*
               from ${t} x where tenant_id = $1 limit 1) r`,
          [a, b],
        );
        expect(
          insert.ok ? `${t}: inserted ${insert.rowCount}` : insert.error,
          `${t} insert into B`,
        ).toMatch(refused);
        const move = await q(`update ${t} set tenant_id = $2 where tenant_id = $1`, [a, b]);
        expect(move.ok ? `${t}: moved ${move.rowCount}` : move.error, `${t} move to B`).toMatch(
          refused,
        );
      }
    });
  });

  it('grants the runtime role nothing on partitions (they would bypass the parent’s RLS)', async () => {
    const res = await db.ownerPool.query<{ relname: string }>(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relispartition and c.relkind in ('r', 'p')`,
    );
    expect(res.rows.length).toBeGreaterThan(0);
    await asRuntime({ tenant: a }, async (q) => {
      for (const { relname } of res.rows) {
        const r = await q(`select count(*) from ${relname}`);
        expect(r.ok ? `${relname} readable` : r.error).toMatch(/permission denied/);
      }
    });
  });

  it('has no view, materialized view or unreviewed SECURITY DEFINER function that could bypass RLS', async () => {
    const views = await db.ownerPool.query<{ relname: string; invoker: boolean }>(
      `select c.relname, coalesce('security_invoker=true' = any(c.reloptions), false) as invoker
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('v', 'm')`,
    );
    for (const v of views.rows)
      expect({ view: v.relname, securityInvoker: v.invoker }).toEqual({
        view: v.relname,
        securityInvoker: true,
      });
    const definers = await db.ownerPool.query<{ proname: string }>(
      `select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public' and p.prosecdef order by 1`,
    );
    for (const f of definers.rows) {
      expect(
        reviewedDefinerFunctions,
        `SECURITY DEFINER function ${f.proname} needs review`,
      ).toContain(f.proname);
    }
  });

  it('uses a runtime role that is not owner, superuser or BYPASSRLS', async () => {
    await expect(assertRuntimeRoleIsSafe(db.pool)).resolves.toBeUndefined();
    await expect(assertRuntimeRoleIsSafe(db.ownerPool)).rejects.toMatchObject({
      code: 'E_DB_ROLE_PRIVILEGED',
    });
    // The system role may open the system scope, so it must never serve as the runtime role;
    // and a runtime role cannot serve as the system role.
    await expect(assertRuntimeRoleIsSafe(db.systemPool, { system: true })).resolves.toBeUndefined();
    await expect(assertRuntimeRoleIsSafe(db.systemPool)).rejects.toMatchObject({
      code: 'E_DB_ROLE_PRIVILEGED',
    });
    await expect(assertRuntimeRoleIsSafe(db.pool, { system: true })).rejects.toMatchObject({
      code: 'E_DB_ROLE_MISCONFIGURED',
    });
  });

  it('never opens the system scope to the runtime role (docs/adr/0008-system-scope.md)', async () => {
    await asRuntime({ scope: 'system' }, async (q) => {
      for (const t of [...tables, 'tenants']) {
        const r = await q(`select count(*)::int as n from ${t}`);
        if (r.ok) expect({ table: t, rows: r.rows[0]?.n }).toEqual({ table: t, rows: 0 });
        else expect(r.error).toMatch(/permission denied/);
      }
    });
  });

  it('opens the system scope, for the system role, only where a reviewed policy says so', async () => {
    // Engine and key rotation work across tenants on rows that hold routing data or wrapped keys.
    const systemScoped: Record<string, string> = {
      jobs: 'all rows (the queue)',
      triggers: 'cron and webhook triggers (scheduling and webhook routing)',
      tenant_data_keys: 'read only (key rotation finds the tenants to re-wrap)',
    };
    await asRuntime({ scope: 'system', pool: db.systemPool }, async (q) => {
      for (const t of tables) {
        const r = await q(`select count(distinct tenant_id)::int as tenants from ${t}`);
        const tenantsSeen = r.ok ? r.rows[0]?.tenants : 0;
        if (!(t in systemScoped)) {
          expect({ table: t, tenantsSeen }).toEqual({ table: t, tenantsSeen: 0 });
        } else {
          expect(tenantsSeen, `${t}: ${systemScoped[t]}`).toBeGreaterThanOrEqual(2);
        }
      }
      const manual = await q(
        `select count(*)::int as n from triggers where kind not in ('cron', 'webhook')`,
      );
      expect(manual.ok && manual.rows[0]?.n).toBe(0);
      const keyWrite = await q(`update tenant_data_keys set status = status`);
      expect(keyWrite.ok && keyWrite.rowCount).toBe(0);
    });
  });

  it('keeps the tenant setting inside its transaction (pooled connections never leak it)', async () => {
    const { withTenant } = await import('../../src/db/tenant.ts');
    const { createPool } = await import('../../src/db/pool.ts');
    const { testLogger } = await import('../support/db.ts');
    const single = createPool({
      url: db.appUrl,
      max: 1,
      connectTimeoutMs: 5000,
      applicationName: 't',
      logger: testLogger,
    });
    try {
      const inside = await withTenant(
        single,
        a,
        async (c) =>
          (await c.query<{ n: number }>('select count(*)::int as n from connections')).rows[0],
      );
      expect(inside).toEqual({ n: 1 });
      const after = await single.query<{ t: string | null; n: number }>(
        `select current_setting('app.tenant_id', true) as t, (select count(*)::int from connections) as n`,
      );
      expect(after.rows[0]?.n).toBe(0);
      expect(after.rows[0]?.t ?? '').toBe('');
      await expect(withTenant(single, a, () => Promise.reject(new Error('boom')))).rejects.toThrow(
        'boom',
      );
      const afterError = await single.query<{ n: number }>(
        'select count(*)::int as n from connections',
      );
      expect(afterError.rows[0]?.n).toBe(0);
    } finally {
      await single.end();
    }
  });
});
