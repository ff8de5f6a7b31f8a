/**
 * Restart PostgreSQL in the middle of a busy run: the worker processes reconnect by
 * themselves, and every run completes exactly once. This test has its own embedded server
 * (the shared test cluster must not be restarted).
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
import {
  engineDeps,
  makeAction,
  makeWorkflow,
  sleep,
  waitFor,
} from '../support/engine-factories.ts';
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
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-restart-pg-'));
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
    applicationName: 'restart-test',
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

it('workers reconnect after a PostgreSQL restart; no run is lost or duplicated', async () => {
  const tenantId = (await makeTenant(pool)).tenantId;
  const actionId = await makeAction(pool, tenantId, {
    retryStrategy: 'fixed',
    maxAttempts: 10,
    initialDelayMs: 100,
  });
  const { workflowId } = await makeWorkflow(pool, tenantId, [
    { id: 'a', actionId, input: { sleepMs: 150 } },
    { id: 'b', actionId, input: { sleepMs: 150 } },
    { id: 'c', actionId, input: { sleepMs: 150 } },
  ]);
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
  for (let i = 0; i < 24; i++)
    runIds.push((await startRun(deps, { tenantId, workflowId, input: { i } })).runId);
  await waitFor(() => procs.every((p) => p.events.some((e) => e.event === 'step-start')));
  await sleep(200);
  await server.stop();
  const countBefore = procs.map((p) => p.events.length);
  await sleep(1_000);
  server = await startEmbeddedPostgres({ dataDir, port, logger: testLogger, settings });
  // Runs started after the restart use fresh connections of the same pools.
  for (let i = 24; i < 30; i++) {
    const r = await waitFor(
      () => startRun(deps, { tenantId, workflowId, input: { i } }).catch(() => undefined),
      {
        what: 'a start after the restart',
      },
    );
    runIds.push(r.runId);
  }
  await waitFor(
    async () => {
      const r = await owner
        .query<{ n: number }>(
          `select count(*)::int n from workflow_runs where status = 'succeeded'`,
        )
        .catch(() => undefined);
      return r?.rows[0]!.n === 30;
    },
    { timeoutMs: 40_000, intervalMs: 200, what: 'all 30 runs to succeed' },
  );
  const runs = await owner.query<{ n: number }>('select count(*)::int n from workflow_runs');
  expect(runs.rows[0]!.n).toBe(30);
  const succeeded = await owner.query<{ run_id: string; step_id: string; n: number }>(
    `select run_id, step_id, count(*)::int n from step_runs where status = 'succeeded' group by run_id, step_id`,
  );
  expect(succeeded.rows).toHaveLength(90);
  expect(succeeded.rows.every((r) => r.n === 1)).toBe(true);
  expect((await owner.query('select 1 from jobs')).rowCount).toBe(0);
  // Both processes survived the restart and did work after it (they reconnected by themselves).
  expect(procs.map((p) => p.child.exitCode)).toEqual([null, null]);
  expect(
    procs.map((p) => p.events.slice(countBefore.shift()).some((e) => e.event === 'step-start')),
  ).toEqual([true, true]);
}, 90_000);
