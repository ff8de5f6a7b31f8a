/**
 * SIGKILL a worker process in the middle of its steps: after the lease, another worker
 * process claims them again, the lost attempt is counted (E_WORKER_LOST), every run completes
 * and no step completes twice.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, makeWorkflow, waitFor } from '../support/engine-factories.ts';
import { spawnEngineProcess, type EngineProcess } from '../support/engine-spawn.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
const procs: EngineProcess[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  await db.drop();
});

it('a killed worker loses its steps to another worker after the lease; nothing completes twice', async () => {
  const tenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId, {
    retryStrategy: 'fixed',
    maxAttempts: 3,
    initialDelayMs: 0,
  });
  const { workflowId } = await makeWorkflow(db.pool, tenantId, [
    { id: 'slow', actionId, input: { sleepMs: 1_500 } },
    { id: 'next', actionId, input: { sleepMs: 0 } },
  ]);
  const env = {
    ROLE: 'worker',
    DATABASE_APP_URL: db.appUrl,
    WORKER_LEASE_MS: '1500',
    WORKER_HEARTBEAT_MS: '500',
    WORKER_POLL_MS: '100',
    WORKER_CONCURRENCY: '4',
  };
  const victim = spawnEngineProcess(env);
  procs.push(victim);
  await victim.ready;
  const deps = engineDeps(db.pool);
  const runs = await Promise.all(
    [1, 2, 3, 4].map((i) => startRun(deps, { tenantId, workflowId, input: { i } })),
  );
  await waitFor(() => victim.events.filter((e) => e.event === 'step-start').length === 4, {
    what: 'the victim to start all four steps',
  });
  await victim.kill('SIGKILL');
  const rescuer = spawnEngineProcess(env);
  procs.push(rescuer);
  await waitFor(
    async () => {
      const r = await db.ownerPool.query<{ n: number }>(
        `select count(*)::int n from workflow_runs where id = any($1) and status = 'succeeded'`,
        [runs.map((r) => r.runId)],
      );
      return r.rows[0]!.n === 4;
    },
    { timeoutMs: 20_000, what: 'all runs to succeed on the rescuer' },
  );
  for (const { runId } of runs) {
    const steps = await db.ownerPool.query<{
      step_id: string;
      attempt: number;
      status: string;
      error_code: string | null;
    }>(
      'select step_id, attempt, status, error_code from step_runs where run_id = $1 order by step_index, attempt',
      [runId],
    );
    expect(steps.rows).toEqual([
      { step_id: 'slow', attempt: 1, status: 'failed', error_code: 'E_WORKER_LOST' },
      { step_id: 'slow', attempt: 2, status: 'succeeded', error_code: null },
      { step_id: 'next', attempt: 1, status: 'succeeded', error_code: null },
    ]);
  }
  const rescued = rescuer.events.filter((e) => e.event === 'step-start' && e.stepId === 'slow');
  expect(rescued.map((e) => e.attempt)).toEqual([2, 2, 2, 2]);
  expect(
    (
      await db.ownerPool.query('select 1 from jobs where run_id = any($1)', [
        runs.map((r) => r.runId),
      ])
    ).rowCount,
  ).toBe(0);
});
