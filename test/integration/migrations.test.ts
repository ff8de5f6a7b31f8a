import { cp, mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { migrate, migrationsDir, readMigrations } from '../../src/db/migrate.ts';
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
});
