/**
 * One PostgreSQL for the whole test run: TEST_DATABASE_URL (a superuser URL of an external
 * server) or a throwaway embedded server. A template database is migrated once; every test
 * file clones it (test/support/db.ts), so files are isolated and start in milliseconds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { ensureAppRole } from '../../src/db/roles.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { freePort } from './free-port.ts';

export const TEST_APP_ROLE = 'switchyard_app_test';
export const TEST_APP_PASSWORD = 'switchyard-app-test-password';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
    pgAppRole: string;
    pgAppPassword: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const logger = createLogger({ level: 'warn', name: 'test-setup' });
  let adminUrl = process.env.TEST_DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let dataDir: string | undefined;
  if (!adminUrl) {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-test-pg-'));
    const embedded = await startEmbeddedPostgres({
      dataDir,
      port: await freePort(),
      logger,
      // A throwaway cluster: durability settings off for speed.
      settings: {
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
        max_connections: '300',
      },
    });
    adminUrl = embedded.ownerUrl;
    stopEmbedded = () => embedded.stop();
  }
  const template = `sy_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${template}`);
  await admin.end();
  const templateUrl = withDatabase(adminUrl, template);
  await migrate(templateUrl, { logger });
  await ensureAppRole(templateUrl, { role: TEST_APP_ROLE, password: TEST_APP_PASSWORD, logger });

  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgTemplate', template);
  project.provide('pgAppRole', TEST_APP_ROLE);
  project.provide('pgAppPassword', TEST_APP_PASSWORD);

  return async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    const left = await c.query<{ datname: string }>(
      `select datname from pg_database where datname like 'sy\\_test\\_%' or datname = $1`,
      [template],
    );
    for (const { datname } of left.rows)
      await c.query(`drop database if exists ${datname} with (force)`);
    await c.end();
    await stopEmbedded?.();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
