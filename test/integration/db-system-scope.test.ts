/**
 * The system scope is a boundary (migration 0007, docs/adr/0008-system-scope.md): the runtime
 * role, which API requests and worker steps use, cannot open it by setting app.scope, nor take
 * the system role; only the system login role (withSystem) reads across tenants. Users and
 * sessions: the runtime role lists no password hash and no other user's session.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn } from '../../src/accounts/sign-in.ts';
import { withSystem, withTenant, withUser } from '../../src/db/tenant.ts';
import type { TenantId, UserId } from '../../src/model/ids.ts';
import { hashPassword } from '../../src/security/passwords.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { seedAllTables } from '../support/seed-all-tables.ts';

let db: TestDatabase;
let a: TenantId;
let b: TenantId;
let ownerA: UserId;
let ownerB: UserId;
let emailB: string;

/** What the attack reads: every table the system scope ever opened, and a few it never did. */
const crossTenantReads = {
  triggers: 'select count(distinct tenant_id)::int as n from triggers',
  tenant_data_keys: 'select count(distinct tenant_id)::int as n from tenant_data_keys',
  jobs: 'select count(distinct tenant_id)::int as n from jobs',
  tenants: 'select count(distinct id)::int as n from tenants',
  workflow_runs: 'select count(distinct tenant_id)::int as n from workflow_runs',
  connections: 'select count(distinct tenant_id)::int as n from connections',
};

beforeAll(async () => {
  db = await createTestDatabase();
  const ta = await makeTenant(db.pool, 'Tenant A');
  const tb = await makeTenant(db.pool, 'Tenant B');
  a = ta.tenantId;
  b = tb.tenantId;
  ownerA = ta.ownerUserId;
  ownerB = tb.ownerUserId;
  await seedAllTables(db.pool, a);
  await seedAllTables(db.pool, b);
  const hash = await hashPassword('correct horse battery staple');
  await db.ownerPool.query('update users set password_hash = $1', [hash]);
  emailB = (
    await db.ownerPool.query<{ email: string }>('select email from users where id = $1', [ownerB])
  ).rows[0]!.email;
  for (const user of [ownerA, ownerB]) {
    await db.ownerPool.query(
      `insert into sessions (user_id, token_hash, current_tenant_id, expires_at)
       values ($1, $2, null, now() + interval '1 day')`,
      [user, randomBytes(32)],
    );
  }
});
afterAll(async () => {
  await db.drop();
});

/** One runtime-role connection, outside any helper: what injected SQL would have. */
async function onRuntimeConnection<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await db.pool.connect();
  try {
    return await fn(c);
  } finally {
    await c.query('rollback').catch(() => undefined);
    await c.query('reset all');
    c.release();
  }
}

async function countOrRefused(c: pg.PoolClient, sql: string): Promise<number | 'refused'> {
  await c.query('savepoint s');
  try {
    const n = (await c.query<{ n: number }>(sql)).rows[0]!.n;
    await c.query('release savepoint s');
    return n;
  } catch (err) {
    expect((err as Error).message).toMatch(/permission denied/);
    await c.query('rollback to savepoint s');
    return 'refused';
  }
}

describe('the runtime role cannot open the system scope', () => {
  it('sees no row of any tenant after set_config(app.scope, system) for the session', async () => {
    await onRuntimeConnection(async (c) => {
      await c.query("select set_config('app.scope', 'system', false)");
      await c.query('begin');
      for (const [table, sql] of Object.entries(crossTenantReads)) {
        const n = await countOrRefused(c, sql);
        expect({ table, n }).toEqual({ table, n: n === 'refused' ? 'refused' : 0 });
      }
    });
  });

  it('sees no row of any tenant after set_config(app.scope, system) in a transaction', async () => {
    await onRuntimeConnection(async (c) => {
      await c.query('begin');
      await c.query("select set_config('app.scope', 'system', true)");
      for (const [table, sql] of Object.entries(crossTenantReads)) {
        expect({ table, n: await countOrRefused(c, sql) }).toEqual({ table, n: 0 });
      }
      const move = await c.query("update triggers set name = 'x' where kind = 'cron'");
      expect(move.rowCount).toBe(0);
      const steal = await c.query(`update jobs set locked_by = 'attacker' returning id`);
      expect(steal.rowCount).toBe(0);
    });
  });

  it("sees only its own tenant's rows with a tenant and the system scope set together", async () => {
    await onRuntimeConnection(async (c) => {
      await c.query('begin');
      await c.query(
        "select set_config('app.tenant_id', $1, true), set_config('app.scope', 'system', true)",
        [a],
      );
      for (const table of ['triggers', 'tenant_data_keys', 'jobs', 'tenants']) {
        const r = await c.query<{ t: string }>(
          `select distinct ${table === 'tenants' ? 'id' : 'tenant_id'}::text as t from ${table}`,
        );
        expect({ table, tenants: r.rows.map((x) => x.t) }).toEqual({ table, tenants: [a] });
      }
    });
  });

  it('cannot become the system role or a member of its group', async () => {
    await onRuntimeConnection(async (c) => {
      const systemRole = decodeURIComponent(new URL(db.systemUrl).username);
      for (const sql of [
        'set role switchyard_system',
        `set role ${systemRole}`,
        `grant switchyard_system to current_user`,
      ]) {
        await expect(c.query(sql), sql).rejects.toThrow(/permission denied|must have admin option/);
      }
      const r = await c.query<{ member: boolean }>(
        "select pg_has_role('switchyard_system', 'USAGE') as member",
      );
      expect(r.rows[0]?.member).toBe(false);
    });
  });

  it('leaves withSystem() (the system role) its reviewed reach across tenants', async () => {
    const seen = await withSystem(db.pool, async (c) => {
      const out: Record<string, number> = {};
      for (const [table, sql] of Object.entries(crossTenantReads)) {
        out[table] = (await c.query<{ n: number }>(sql)).rows[0]!.n;
      }
      return out;
    });
    expect(seen.triggers).toBeGreaterThanOrEqual(2);
    expect(seen.tenant_data_keys).toBeGreaterThanOrEqual(2);
    expect(seen.jobs).toBeGreaterThanOrEqual(2);
    expect(seen.tenants).toBeGreaterThanOrEqual(2);
    // Nothing a tenant wrote is opened by the system scope.
    expect(seen.workflow_runs).toBe(0);
    expect(seen.connections).toBe(0);
  });

  it('keeps the system role under tenant isolation in a tenant transaction', async () => {
    const r = await withTenant(db.systemPool, a, (c) =>
      c.query<{ n: number }>('select count(distinct tenant_id)::int as n from workflow_runs'),
    );
    expect(r.rows[0]?.n).toBe(1);
  });
});

describe('users and sessions for the runtime role', () => {
  it('cannot read any password hash, even its own user', async () => {
    await onRuntimeConnection(async (c) => {
      await c.query('begin');
      await c.query("select set_config('app.user_id', $1, true)", [ownerA]);
      await expect(c.query('select password_hash from users')).rejects.toThrow(/permission denied/);
    });
  });

  it('lists no user without a reason: none alone, its own, or its tenant’s members', async () => {
    const none = await db.pool.query<{ n: number }>('select count(*)::int as n from users');
    expect(none.rows[0]?.n).toBe(0);
    const own = await withUser(db.pool, ownerA, (c) =>
      c.query<{ id: string }>('select id from users'),
    );
    expect(own.rows.map((r) => r.id)).toEqual([ownerA]);
    const members = await withTenant(db.pool, b, (c) =>
      c.query<{ id: string }>('select id from users'),
    );
    expect(members.rows.map((r) => r.id)).toEqual([ownerB]);
  });

  it('reaches one password hash only by its exact email (sign-in)', async () => {
    const r = await db.pool.query<{ id: string; password_hash: string }>(
      'select id, password_hash from user_for_sign_in($1)',
      [emailB],
    );
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0]?.id).toBe(ownerB);
    const signedIn = await signIn(
      db.pool,
      {
        sessionTtlMs: 60_000,
        maxFailures: 5,
        maxFailuresPerIp: 50,
        failureWindowMs: 60_000,
        lockMs: 60_000,
      },
      {
        email: emailB,
        password: 'correct horse battery staple',
        userAgent: null,
        ip: null,
        requestId: 'r1',
      },
    );
    expect(signedIn.userId).toBe(ownerB);
  });

  it("cannot create users, set another user's password, or list or change others' sessions", async () => {
    await expect(
      db.pool.query("insert into users (email) values ('x@example.test')"),
    ).rejects.toThrow(/permission denied/);
    await expect(
      withUser(db.pool, ownerA, (c) => c.query('select set_user_password($1, $2)', [ownerB, 'x'])),
    ).rejects.toThrow(/not this user/);
    const all = await db.pool.query<{ n: number }>('select count(*)::int as n from sessions');
    expect(all.rows[0]?.n).toBe(0);
    const mine = await withUser(db.pool, ownerA, (c) =>
      c.query<{ user_id: string }>('select user_id from sessions'),
    );
    expect(new Set(mine.rows.map((r) => r.user_id))).toEqual(new Set([ownerA]));
    const revoke = await withUser(db.pool, ownerA, (c) =>
      c.query('update sessions set revoked_at = now() where user_id = $1', [ownerB]),
    );
    expect(revoke.rowCount).toBe(0);
    await expect(
      withUser(db.pool, ownerA, (c) =>
        c.query(
          `insert into sessions (user_id, token_hash, expires_at) values ($1, $2, now() + interval '1 day')`,
          [ownerB, randomBytes(32)],
        ),
      ),
    ).rejects.toThrow(/row-level security/);
    await expect(db.pool.query('select token_hash from sessions')).resolves.toMatchObject({
      rowCount: 0,
    });
  });
});
