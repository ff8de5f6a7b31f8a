/**
 * A PostgreSQL restart while a process starts: the migrations' (or the role set-up's) own
 * connection is terminated under it. The statement in flight fails (start-up retries it,
 * db/connect.ts); the connection's 'error' event must not end the process as well — a worker
 * of the scale-out soak, restarted during a PostgreSQL restart behind PgBouncer, exited with
 * "Connection terminated unexpectedly". vitest fails a test on any uncaught error, so this one
 * fails without the listener.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConnectionError } from '../../src/db/pool.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('a start-up connection terminated under it', () => {
  it('fails the migration run with a connection error, and nothing else', async () => {
    // Hold the migrations' lock so that migrate() waits on it, then terminate its backend.
    const holder = new pg.Client({ connectionString: db.ownerUrl });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock(7242016001)');
      const run = migrate(db.ownerUrl, { logger: testLogger });
      run.catch(() => undefined);
      let terminated = 0;
      for (let i = 0; i < 100 && terminated === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const r = await holder.query<{ n: number }>(
          `select count(*)::int as n from (
             select pg_terminate_backend(pid) from pg_stat_activity
              where application_name = 'switchyard-migrate' and datname = current_database()) t`,
        );
        terminated = r.rows[0]!.n;
      }
      expect(terminated).toBe(1);
      const err = await run.then(
        () => null,
        (e: unknown) => e,
      );
      expect(isConnectionError(err)).toBe(true);
      // The 'error' event comes after the rejection: give it a turn to reach the process.
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await holder.end();
    }
  });
});
