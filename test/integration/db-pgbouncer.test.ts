/**
 * The runtime pool through PgBouncer in transaction pooling mode (Debian's 1.18): with
 * DATABASE_PREPARED_STATEMENTS=false the hot named statements of db/queries run on whichever
 * server connection PgBouncer picks; with the default (named statements) they fail as soon as a
 * transaction lands on a server connection that never prepared them, which is why the setting
 * exists. docs/scaling.md documents it together with DATABASE_LISTEN_URL.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createPool } from '../../src/db/pool.ts';
import { estimateAllJobs } from '../../src/db/queries/jobs.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { startPgBouncer, type PgBouncer } from '../support/lb-topology.ts';

let db: TestDatabase;
let bouncer: PgBouncer;
let bouncedUrl: string;
const pools: pg.Pool[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const direct = new URL(db.appUrl);
  bouncer = await startPgBouncer({
    pgPort: Number(direct.port),
    database: db.name,
    user: inject('pgAppRole'),
    password: inject('pgAppPassword'),
    poolSize: 4,
  });
  direct.port = String(bouncer.port);
  // PgBouncer listens on 127.0.0.1, not in the embedded server's socket directory.
  direct.searchParams.delete('host');
  bouncedUrl = direct.toString();
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await bouncer?.stop();
  await db.drop();
});

function pooledThroughBouncer(preparedStatements: boolean): pg.Pool {
  const pool = createPool({
    url: bouncedUrl,
    max: 8,
    connectTimeoutMs: 5_000,
    applicationName: 'pgbouncer-test',
    logger: testLogger,
    preparedStatements,
  });
  pools.push(pool);
  return pool;
}

/** 200 runs of one named statement from 8 client connections over 4 server connections. */
async function hammer(pool: pg.Pool): Promise<PromiseSettledResult<unknown>[]> {
  return Promise.allSettled(Array.from({ length: 200 }, () => estimateAllJobs(pool)));
}

describe('the runtime pool through PgBouncer (transaction pooling)', () => {
  it('runs the named hot statements when DATABASE_PREPARED_STATEMENTS=false', async () => {
    const results = await hammer(pooledThroughBouncer(false));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  });

  it('fails with named statements (the default), which is why the setting exists', async () => {
    const results = await hammer(pooledThroughBouncer(true));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatch(
      /prepared statement "sy_estimate_all_jobs" (does not exist|already exists)/,
    );
  });
});
