import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import {
  acceptedEarlierChecksums,
  migrate,
  migrationsDir,
  readMigrations,
} from '../../src/db/migrate.ts';
import { withDatabase } from '../support/global-setup.ts';
import { runCli } from '../support/cli.ts';
import { testLogger } from '../support/db.ts';

const created: string[] = [];
let tmp: string;

async function emptyDatabase(): Promise<string> {
  const name = `sy_test_mig_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  created.push(name);
  return withDatabase(inject('pgAdminUrl'), name);
}

async function appliedVersions(url: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (
      await c.query<{ version: number }>('select version from schema_migrations order by 1')
    ).rows.map((r) => r.version);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'sy-migrations-'));
});
afterAll(async () => {
  const admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
  await admin.connect();
  for (const name of created) await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
  await rm(tmp, { recursive: true, force: true });
});

describe('migrations', () => {
  it('are safe when ten processes start at once', async () => {
    const url = await emptyDatabase();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        runCli(['migrate'], {
          DATABASE_URL: url,
          DATABASE_APP_ROLE: 'switchyard_app_migtest',
          DATABASE_APP_PASSWORD: 'migration-test-password',
        }),
      ),
    );
    for (const r of results)
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const migrations = await readMigrations();
    expect(await appliedVersions(url)).toEqual(migrations.map((m) => m.version));
  });

  it('refuse an applied migration whose file was edited, and apply nothing', async () => {
    const url = await emptyDatabase();
    const dir = path.join(tmp, 'edited');
    await cp(migrationsDir, dir, { recursive: true });
    await migrate(url, { logger: testLogger, dir });
    await appendFile(path.join(dir, '0001_init.sql'), '\n-- an innocent-looking edit\n');
    await writeFile(path.join(dir, '9001_later.sql'), 'create table should_not_exist (id int);');
    await expect(migrate(url, { logger: testLogger, dir })).rejects.toMatchObject({
      code: 'E_MIGRATION_EDITED',
      message: expect.stringMatching(/0001_init was changed after it was applied/) as unknown,
    });
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const t = await c.query<{ t: string | null }>(`select to_regclass('should_not_exist') as t`);
    await c.end();
    expect(t.rows[0]?.t).toBeNull();
  });

  it('refuse a database migrated by a newer build', async () => {
    const url = await emptyDatabase();
    const dir = path.join(tmp, 'newer');
    await cp(migrationsDir, dir, { recursive: true });
    await writeFile(path.join(dir, '9002_from_the_future.sql'), 'select 1;');
    await migrate(url, { logger: testLogger, dir });
    await expect(migrate(url, { logger: testLogger })).rejects.toMatchObject({
      code: 'E_MIGRATION_UNKNOWN',
    });
  });

  it('roll back a failing migration whole and record nothing for it', async () => {
    const url = await emptyDatabase();
    const dir = path.join(tmp, 'failing');
    await cp(migrationsDir, dir, { recursive: true });
    await writeFile(
      path.join(dir, '9003_broken.sql'),
      'create table half_done (id int);\nselect no_such_function();',
    );
    await expect(migrate(url, { logger: testLogger, dir })).rejects.toThrow(/9003_broken failed/);
    expect(await appliedVersions(url)).not.toContain(9003);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const t = await c.query<{ t: string | null }>(`select to_regclass('half_done') as t`);
    await c.end();
    expect(t.rows[0]?.t).toBeNull();
  });

  it('accept 0006 as first released (SET clause) and replace its function in 0007', async () => {
    // The first text of 0006, rebuilt from today's: its checksum must be the accepted one.
    const today = await readFile(path.join(migrationsDir, '0006_retention.sql'), 'utf8');
    const first = today
      .replace(
        /-- UPDATE is always refused\.[\s\S]*?only a superuser may create: see acceptedEarlierChecksums in src\/db\/migrate\.ts and 0007\.\)\n/,
        `-- UPDATE is always refused. DELETE passes only inside purge_audit_events() (whose SET clause
-- turns switchyard.audit_purge on for its own duration), only for a role that owns the table
-- (the runtime role has no DELETE right anyway), and only for events older than 30 days.
`,
      )
      // (a function replacement: in a replacement string `$$` would stand for one `$`)
      .replace('  set search_path = public, pg_temp\n  as $$\ndeclare\n  kept_at_least', (m) =>
        m.replace('pg_temp\n', "pg_temp\n  set switchyard.audit_purge = 'on'\n"),
      )
      .replace("  perform set_config('switchyard.audit_purge', 'on', true);\n", '')
      .replace("  perform set_config('switchyard.audit_purge', 'off', true);\n", '');
    const checksum = createHash('sha256').update(first).digest('hex');
    expect(acceptedEarlierChecksums.get(6)).toEqual([checksum]);

    const url = await emptyDatabase();
    const dir = path.join(tmp, 'first-0006');
    await cp(migrationsDir, dir, { recursive: true });
    for (const m of await readMigrations()) {
      if (m.version > 6) await rm(path.join(dir, `${m.name}.sql`));
    }
    await writeFile(path.join(dir, '0006_retention.sql'), first);
    await migrate(url, { logger: testLogger, dir });
    const config = async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const r = await c.query<{ proconfig: string[] | null }>(
        `select proconfig from pg_proc where proname = 'purge_audit_events'`,
      );
      await c.end();
      return r.rows[0]?.proconfig;
    };
    expect(await config()).toContain('switchyard.audit_purge=on');
    await migrate(url, { logger: testLogger });
    expect(await appliedVersions(url)).toEqual((await readMigrations()).map((m) => m.version));
    expect(await config()).toEqual(['search_path=public, pg_temp']);
  });
});

describe('the schema', () => {
  // One migrated database for both tests (the first reads the catalog only).
  let c: pg.Client;
  beforeAll(async () => {
    const url = await emptyDatabase();
    await migrate(url, { logger: testLogger });
    c = new pg.Client({ connectionString: url });
    await c.connect();
  });
  afterAll(() => c?.end());
  // Every table with a tenant_id reaches tenants through foreign keys that carry the tenant
  // (directly, or through (tenant_id, x) → a table that does): a row cannot name a tenant that
  // does not exist, nor a parent of another tenant. 0034 drops the direct reference of four
  // hot tables because their composite keys already do this.
  it('anchors every tenant-owned table to tenants through keys that include tenant_id', async () => {
    const tables = await c.query<{ t: string }>(
      `select c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
          join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
         where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
           and c.relname <> 'tenants'`,
    );
    const edges = await c.query<{ from: string; to: string }>(
      `select k.conrelid::regclass::text as from, k.confrelid::regclass::text as to
           from pg_constraint k
           join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any (k.conkey)
          where k.contype = 'f' and a.attname = 'tenant_id'`,
    );
    const anchored = new Set(['tenants']);
    for (let grew = true; grew;) {
      grew = false;
      for (const e of edges.rows)
        if (anchored.has(e.to) && !anchored.has(e.from)) {
          anchored.add(e.from);
          grew = true;
        }
    }
    // High-volume logs: partitioned by day and dropped by partition (retention), so no keys.
    const unanchoredByDesign = ['access_log', 'execution_logs'];
    const missing = tables.rows
      .map((r) => r.t)
      .filter((t) => !anchored.has(t) && !unanchoredByDesign.includes(t));
    expect(missing).toEqual([]);
    for (const hot of ['workflow_runs', 'step_runs', 'jobs', 'idempotency_keys'])
      expect(anchored.has(hot)).toBe(true);
  });

  // The attacker's view of 0034: with row security out of the way (a superuser), the keys
  // alone still refuse a run-path row that names a tenant that does not exist, or its own
  // tenant with another tenant's workflow or run.
  it('refuses run-path rows that point at a missing tenant or into another tenant', async () => {
    const one = async (sql: string, values: unknown[]) =>
      (await c.query<{ id: string }>(sql, values)).rows[0]!.id;
    const tenant = (name: string) =>
      one(`insert into tenants (name) values ($1) returning id`, [name]);
    const [a, b] = [await tenant('A'), await tenant('B')];
    const workflow = async (t: string) => {
      const w = await one(`insert into workflows (tenant_id, name) values ($1, 'w') returning id`, [
        t,
      ]);
      const v = await one(
        `insert into workflow_versions (tenant_id, workflow_id, version, definition)
           values ($1, $2, 1, '{"steps": []}') returning id`,
        [t, w],
      );
      return { w, v };
    };
    const wa = await workflow(a);
    const wb = await workflow(b);
    const runB = await one(
      `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id) values ($1, $2, $3) returning id`,
      [b, wb.w, wb.v],
    );
    const refused = async (sql: string, values: unknown[]) =>
      expect(c.query(sql, values)).rejects.toMatchObject({ code: '23503' });
    const missing = '00000000-0000-4000-8000-000000000000';
    await refused(
      `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id) values ($1, $2, $3)`,
      [missing, wa.w, wa.v],
    );
    await refused(
      `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id) values ($1, $2, $3)`,
      [a, wb.w, wb.v],
    );
    await refused(
      `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status)
         values ($1, $2, 's', 0, 1, 'running')`,
      [a, runB],
    );
    await refused(`insert into jobs (tenant_id, run_id, step_index) values ($1, $2, 0)`, [a, runB]);
    await refused(
      `insert into idempotency_keys (tenant_id, workflow_id, key, input_hash, run_id, expires_at)
         values ($1, $2, 'k', '\\x00', $3, now() + interval '1 day')`,
      [a, wb.w, runB],
    );
  });
});
