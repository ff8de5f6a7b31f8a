/**
 * The owner docs/operations.md describes, as managed PostgreSQL services give it: LOGIN,
 * CREATEDB, CREATEROLE, no superuser. It must be able to migrate a fresh database (0006's
 * function included), create the runtime and system roles, and the server must then work.
 * CI runs this on the embedded PostgreSQL 18 and on PostgreSQL 15 (different CREATEROLE rules).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { openDatabase, type OpenDatabase } from '../../src/db/connect.ts';
import { ensureAppRole } from '../../src/db/roles.ts';
import { withSystem, withTenant } from '../../src/db/tenant.ts';
import { testLogger } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { withDatabase } from '../support/global-setup.ts';

const suffix = randomBytes(4).toString('hex');
const ownerRole = `sy_owner_${suffix}`;
const ownerPassword = `owner-${randomBytes(12).toString('hex')}`;
const appRole = `sy_app_${suffix}`;
const appPassword = `app-${randomBytes(12).toString('hex')}`;
const database = `sy_test_managed_${suffix}`;

let admin: pg.Client;
let ownerUrl: string;
let opened: OpenDatabase | undefined;

async function asAdmin(sql: string): Promise<pg.QueryResult<Record<string, string>>> {
  return admin.query<Record<string, string>>(sql);
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
  await admin.connect();
  await asAdmin(`create role ${ownerRole} login createrole createdb password '${ownerPassword}'`);
  // The group roles are cluster-wide and this test cluster made them already (the template's
  // migration, as superuser). An owner on a fresh managed server creates them itself, and from
  // PostgreSQL 16 on their creator holds ADMIN OPTION on them, without membership: give this
  // owner exactly that. PostgreSQL 15's CREATEROLE may grant any non-superuser role anyway.
  const version = Number((await asAdmin('show server_version_num')).rows[0]?.server_version_num);
  if (version >= 160000) {
    await asAdmin(
      `grant switchyard_runtime, switchyard_system to ${ownerRole} with admin option, inherit false, set false`,
    );
  }
  const adminUrl = new URL(inject('pgAdminUrl'));
  adminUrl.username = ownerRole;
  adminUrl.password = ownerPassword;
  const asOwner = new pg.Client({
    connectionString: withDatabase(adminUrl.toString(), 'postgres'),
  });
  await asOwner.connect();
  await asOwner.query(`create database ${database}`);
  await asOwner.end();
  ownerUrl = withDatabase(adminUrl.toString(), database);
});

afterAll(async () => {
  await opened?.close();
  await asAdmin(`drop database if exists ${database} with (force)`);
  for (const role of [`${appRole}_system`, appRole, ownerRole])
    await asAdmin(`drop role if exists ${role}`);
  await admin.end();
});

describe('a non-superuser database owner (CREATEROLE, CREATEDB)', () => {
  it('is not a superuser and owns the database', async () => {
    const c = new pg.Client({ connectionString: ownerUrl });
    await c.connect();
    const r = await c.query<{ rolsuper: boolean; owner: string }>(
      `select rolsuper, pg_get_userbyid(d.datdba) as owner from pg_roles, pg_database d
        where rolname = current_user and d.datname = current_database()`,
    );
    await c.end();
    expect(r.rows[0]).toEqual({ rolsuper: false, owner: ownerRole });
  });

  it('migrates, creates the runtime and system roles, and serves a tenant', async () => {
    opened = await openDatabase(
      {
        ownerUrl,
        appUrl: undefined,
        systemUrl: undefined,
        listenUrl: undefined,
        preparedStatements: true,
        appRole,
        appPassword,
        poolMax: 4,
        connectTimeoutMs: 5_000,
        connectRetryMs: 5_000,
        dataDir: '/nonexistent',
        embeddedPort: 0,
      },
      { logger: testLogger, migrate: true, applicationName: 'managed-owner-test' },
    );
    const { pool } = opened;
    const tenant = await makeTenant(pool, 'Managed');
    const seen = await withTenant(pool, tenant.tenantId, (c) =>
      c.query<{ name: string }>('select name from tenants'),
    );
    expect(seen.rows).toEqual([{ name: 'Managed' }]);
    // System work runs as the system role, which this owner created.
    const tenants = await withSystem(pool, (c) =>
      c.query<{ n: number }>('select count(*)::int as n from tenants'),
    );
    expect(tenants.rows[0]?.n).toBe(1);
    // 0006's purge function, created by this owner, runs (nothing old enough to purge).
    const purged = await withTenant(pool, tenant.tenantId, (c) =>
      c.query<{ n: number }>('select purge_audit_events($1, 30, 100) as n', [tenant.tenantId]),
    );
    expect(purged.rows[0]?.n).toBe(0);
  });

  it('keeps the system scope closed to the runtime role it created', async () => {
    const r = await withTenant(opened!.pool, '00000000-0000-4000-8000-000000000000' as never, (c) =>
      c
        .query("select set_config('app.scope', 'system', true)")
        .then(() => c.query<{ n: number }>('select count(*)::int as n from tenants')),
    );
    expect(r.rows[0]?.n).toBe(0);
  });

  it('runs again on every start: roles updated, nothing to migrate', async () => {
    await expect(
      ensureAppRole(ownerUrl, { role: appRole, password: appPassword, logger: testLogger }),
    ).resolves.toBe('updated');
  });

  it('refuses, with a clear error, a runtime role it cannot make safe', async () => {
    const risky = `${appRole}_risky`;
    await asAdmin(`create role ${risky} login bypassrls password 'x-risky-password'`);
    try {
      await expect(
        ensureAppRole(ownerUrl, {
          role: risky,
          password: 'x-risky-password',
          logger: testLogger,
          system: false,
        }),
      ).rejects.toMatchObject({ code: 'E_DB_ROLE_PRIVILEGED' });
    } finally {
      await asAdmin(`drop role ${risky}`);
    }
  });
});
