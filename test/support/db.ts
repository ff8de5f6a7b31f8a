import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createPool } from '../../src/db/pool.ts';
import { deriveSystemUrl } from '../../src/db/roles.ts';
import { bindSystemPool } from '../../src/db/system-pool.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { withDatabase } from './global-setup.ts';

export type TestDatabase = {
  name: string;
  /** Superuser URL of this test's database (stands in for the owner). */
  ownerUrl: string;
  /** Runtime-role URL: subject to RLS like the server. */
  appUrl: string;
  /** System-role URL (`<runtime role>_system`, a member of switchyard_system). */
  systemUrl: string;
  /** Runtime-role pool; withSystem(pool) runs on systemPool. */
  pool: pg.Pool;
  /** System-role pool: the only role that can open the system scope. */
  systemPool: pg.Pool;
  /** Superuser pool, for assertions that must see around RLS. */
  ownerPool: pg.Pool;
  drop(): Promise<void>;
};

export const testLogger = createLogger({
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
  name: 'test',
});

/** A fresh database cloned from the migrated template; drop() it in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('pgAdminUrl');
  const name = `sy_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name} template ${inject('pgTemplate')}`);
  await admin.end();
  const ownerUrl = withDatabase(adminUrl, name);
  const app = new URL(ownerUrl);
  app.username = inject('pgAppRole');
  app.password = inject('pgAppPassword');
  const appUrl = app.toString();
  const pool = createPool({
    url: appUrl,
    max: 10,
    connectTimeoutMs: 5_000,
    applicationName: 'test',
    logger: testLogger,
  });
  const systemUrl = deriveSystemUrl(appUrl);
  const systemPool = createPool({
    url: systemUrl,
    max: 5,
    connectTimeoutMs: 5_000,
    applicationName: 'test-system',
    logger: testLogger,
  });
  bindSystemPool(pool, systemPool);
  const ownerPool = new pg.Pool({ connectionString: ownerUrl, max: 4 });
  // DROP DATABASE ... WITH (FORCE) at the end terminates any connection still closing: expected.
  ownerPool.on('error', () => undefined);
  return {
    name,
    ownerUrl,
    appUrl,
    systemUrl,
    pool,
    systemPool,
    ownerPool,
    async drop() {
      await pool.end();
      await systemPool.end();
      await ownerPool.end();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
