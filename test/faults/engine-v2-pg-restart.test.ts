/**
 * Restart PostgreSQL while version-2 runs wait at a delay (and again as their deadline passes):
 * the waits are rows, not connections, so nothing is lost; the worker processes reconnect by
 * themselves and every run finishes exactly once. Its own embedded server (the shared test
 * cluster must not be restarted).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createPool } from '../../src/db/pool.ts';
import { deriveAppUrl, ensureAppRole } from '../../src/db/roles.ts';
import { startRun } from '../../src/engine/start-run.ts';
import type { RunId } from '../../src/model/ids.ts';
import { testLogger } from '../support/db.ts';
import { engineDeps, makeAction, sleep, waitFor } from '../support/engine-factories.ts';
import { makeWorkflowV2 } from '../support/engine-v2.ts';
import { spawnEngineProcess, type EngineProcess } from '../support/engine-spawn.ts';
import { makeTenant } from '../support/factories.ts';
import { freePort } from '../support/free-port.ts';

const settings = { fsync: 'off', full_page_writes: 'off', max_connections: '60' };
let dataDir: string;
let port: number;
let server: EmbeddedPostgres;
let pool: pg.Pool;
let owner: pg.Pool;
let appUrl: string;
const procs: EngineProcess[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-v2-restart-pg-'));
  port = await freePort();
  server = await startEmbeddedPostgres({ dataDir, port, logger: testLogger, settings });
  await migrate(server.ownerUrl, { logger: testLogger });
  await ensureAppRole(server.ownerUrl, {
    role: 'switchyard_app',
    password: server.appPassword,
    logger: testLogger,
  });
  appUrl = deriveAppUrl(server.ownerUrl, 'switchyard_app', server.appPassword);
  pool = createPool({
    url: appUrl,
    max: 5,
    connectTimeoutMs: 2_000,
    applicationName: 'v2-restart-test',
    logger: testLogger,
  });
  owner = new pg.Pool({ connectionString: server.ownerUrl, max: 2 });
  owner.on('error', () => undefined);
}, 60_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  await pool?.end();
  await owner?.end();
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

it('a PostgreSQL restart during a wait loses no run and duplicates no step', async () => {
  const tenantId = (await makeTenant(pool)).tenantId;
  const actionId = await makeAction(pool, tenantId, {
    retryStrategy: 'fixed',
    maxAttempts: 10,
    initialDelayMs: 100,
  });
  const { workflowId } = await makeWorkflowV2(pool, tenantId, {
    version: 2,
    steps: [
      { id: 'a', actionId, input: {} },
      { id: 'pause', type: 'delay', duration: '3s' },
      { id: 'b', actionId, input: { sleepMs: 100 } },
    ],
  });
  const env = {
    ROLE: 'worker',
    DATABASE_APP_URL: appUrl,
    WORKER_LEASE_MS: '3000',
    WORKER_HEARTBEAT_MS: '1000',
    WORKER_POLL_MS: '200',
    WORKER_CONCURRENCY: '4',
  };
  for (let i = 0; i < 2; i++) procs.push(spawnEngineProcess(env));
  await Promise.all(procs.map((p) => p.ready));
  const deps = engineDeps(pool);
  const runIds: RunId[] = [];
  for (let i = 0; i < 12; i++)
    runIds.push((await startRun(deps, { tenantId, workflowId, input: { i } })).runId);
  const waiting = async () =>
    (
      await owner.query<{ n: number }>(
        `select count(*)::int n from workflow_runs where status = 'waiting'`,
      )
    ).rows[0]!.n;
  await waitFor(async () => (await waiting()) === 12, { what: 'twelve waiting runs' });
  await server.stop();
  // Down across the deadline: the waits come due while nobody can read them.
  await sleep(3_500);
  server = await startEmbeddedPostgres({ dataDir, port, logger: testLogger, settings });
  await waitFor(
    async () => {
      const r = await owner
        .query<{ n: number }>(
          `select count(*)::int n from workflow_runs where status = 'succeeded'`,
        )
        .catch(() => undefined);
      return r?.rows[0]!.n === 12;
    },
    { timeoutMs: 40_000, intervalMs: 200, what: 'all 12 runs to succeed' },
  );
  const succeeded = await owner.query<{ step_id: string; n: number }>(
    `select step_id, count(*)::int n from step_runs where status = 'succeeded'
      group by run_id, step_id`,
  );
  expect(succeeded.rows).toHaveLength(36);
  expect(succeeded.rows.every((r) => r.n === 1)).toBe(true);
  const pauses = await owner.query<{ attempt: number; wait_until: Date | null }>(
    `select attempt, wait_until from step_runs where step_id = 'pause'`,
  );
  expect(pauses.rows).toHaveLength(12);
  expect(pauses.rows.every((r) => r.attempt === 1 && r.wait_until !== null)).toBe(true);
  expect((await owner.query('select 1 from jobs')).rowCount).toBe(0);
  expect(procs.map((p) => p.child.exitCode)).toEqual([null, null]);
}, 90_000);
