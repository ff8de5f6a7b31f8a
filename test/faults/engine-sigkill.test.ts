/**
 * SIGKILL a worker process in the middle of its steps: after the lease, another worker
 * process claims them again, the lost attempt is recorded (E_WORKER_LOST) without counting
 * against the action's maxAttempts, every run completes and no step completes twice; a step
 * that kills its worker every time ends dead after the infrastructure retries.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, makeWorkflow, waitFor } from '../support/engine-factories.ts';
import {
  shortLeaseWorkerEnv,
  spawnEngineProcess,
  type EngineProcess,
} from '../support/engine-spawn.ts';
import { makeTenant } from '../support/factories.ts';
import type { ActionId, TenantId } from '../../src/model/ids.ts';

let db: TestDatabase;
const procs: EngineProcess[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
// Each test starts with no worker: a leftover one would take its steps.
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
});
afterAll(async () => {
  await db.drop();
});

/** A worker process whose steps sleep for their input's `sleepMs`, with a short lease. */
const sleepingWorkerEnv = () => shortLeaseWorkerEnv(db.appUrl);

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
  const env = sleepingWorkerEnv();
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

it('a process killed with runs its intake handed to its own worker loses them to another worker after the lease', async () => {
  const tenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId, { retryStrategy: 'none', maxAttempts: 1 });
  const { workflowId } = await makeWorkflow(db.pool, tenantId, [
    { id: 'slow', actionId, input: { sleepMs: 1_500 } },
  ]);
  const env = sleepingWorkerEnv();
  // One process as `switchyard start` has it: its intake hands new runs to its worker.
  const victim = spawnEngineProcess({ ...env, INTAKE: '1' });
  procs.push(victim);
  await victim.ready;
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 3; i++) victim.startRun({ tenantId, workflowId, input: { i } });
  await waitFor(() => victim.events.filter((e) => e.event === 'step-start').length === 3, {
    what: 'the victim to start the three handed-over steps',
  });
  const runIds = victim.events.filter((e) => e.event === 'run-started').map((e) => e.runId);
  expect(runIds).toHaveLength(3);
  // Handed over, not claimed: each job was created claimed by the victim.
  const held = await db.ownerPool.query<{ status: string; attempt: number }>(
    'select status, attempt from jobs where run_id = any($1)',
    [runIds],
  );
  expect(held.rows).toEqual(Array(3).fill({ status: 'running', attempt: 1 }));
  await victim.kill('SIGKILL');
  const rescuer = spawnEngineProcess(env);
  procs.push(rescuer);
  await waitFor(
    async () =>
      (
        await db.ownerPool.query<{ n: number }>(
          `select count(*)::int n from workflow_runs where id = any($1) and status = 'succeeded'`,
          [runIds],
        )
      ).rows[0]!.n === 3,
    { timeoutMs: 20_000, what: 'the rescuer to finish the three runs' },
  );
  for (const runId of runIds) {
    const steps = await db.ownerPool.query(
      'select attempt, status, error_code from step_runs where run_id = $1 order by attempt',
      [runId],
    );
    // The lost attempt is recorded and not counted against maxAttempts 1; nothing ran twice
    // to completion.
    expect(steps.rows).toEqual([
      { attempt: 1, status: 'failed', error_code: 'E_WORKER_LOST' },
      { attempt: 2, status: 'succeeded', error_code: null },
    ]);
  }
});

/** The tenant's built-in JavaScript action (one attempt: retryStrategy none, maxAttempts 1). */
async function builtinJavaScript(tenantId: TenantId): Promise<ActionId> {
  const r = await db.ownerPool.query<{ id: ActionId; max_attempts: number }>(
    `select a.id, a.max_attempts from actions a
       join apps ap on ap.tenant_id = a.tenant_id and ap.id = a.app_id
      where a.tenant_id = $1 and ap.key = 'javascript' and a.kind = 'javascript'`,
    [tenantId],
  );
  expect(r.rows[0]!.max_attempts).toBe(1);
  return r.rows[0]!.id;
}

const runnerEnv = () =>
  shortLeaseWorkerEnv(db.appUrl, { EXECUTOR: 'runner', WORKER_CONCURRENCY: '2' });

/** Spawns a worker, waits until it is in the middle of the run's code step, and SIGKILLs it. */
async function killDuringStep(runId: string): Promise<void> {
  const p = spawnEngineProcess(runnerEnv());
  procs.push(p);
  await waitFor(() => p.events.some((e) => e.event === 'step-start' && e.runId === runId), {
    timeoutMs: 20_000,
    what: 'a worker to start the code step',
  });
  await p.kill('SIGKILL');
}

const stepsOf = async (runId: string) =>
  (
    await db.ownerPool.query<{ attempt: number; status: string; error_code: string | null }>(
      'select attempt, status, error_code from step_runs where run_id = $1 order by attempt',
      [runId],
    )
  ).rows;

const runOf = async (runId: string) =>
  (
    await db.ownerPool.query<{ status: string; error: { code: string } | null }>(
      'select status, error from workflow_runs where id = $1',
      [runId],
    )
  ).rows[0]!;

it('a worker killed during a JavaScript step (maxAttempts 1) costs no attempt: the step runs again and the run succeeds', async () => {
  const tenantId = (await makeTenant(db.pool)).tenantId;
  const js = await builtinJavaScript(tenantId);
  const { workflowId } = await makeWorkflow(db.pool, tenantId, [
    {
      id: 'code',
      actionId: js,
      input: {
        // The first attempt busy-loops (the worker is killed meanwhile); the next one returns.
        code: 'if (input.attempt === 1) { const end = Date.now() + 4000; while (Date.now() < end) {} } return { attempt: input.attempt };',
        attempt: '{{ run.attempt }}',
      },
    },
  ]);
  const { runId } = await startRun(engineDeps(db.pool), { tenantId, workflowId, input: {} });
  await killDuringStep(runId);
  const rescuer = spawnEngineProcess(runnerEnv());
  procs.push(rescuer);
  await waitFor(async () => (await runOf(runId)).status === 'succeeded', {
    timeoutMs: 20_000,
    what: 'the run to succeed on the rescuer',
  });
  expect(await stepsOf(runId)).toEqual([
    { attempt: 1, status: 'failed', error_code: 'E_WORKER_LOST' },
    { attempt: 2, status: 'succeeded', error_code: null },
  ]);
}, 60_000);

it('a step that kills its worker every time ends dead after the infrastructure retries (E_WORKER_LOST_REPEATEDLY)', async () => {
  const tenantId = (await makeTenant(db.pool)).tenantId;
  const js = await builtinJavaScript(tenantId);
  const { workflowId } = await makeWorkflow(db.pool, tenantId, [
    {
      id: 'killer',
      actionId: js,
      input: { code: 'const end = Date.now() + 4000; while (Date.now() < end) {} return {};' },
    },
  ]);
  const { runId } = await startRun(engineDeps(db.pool), { tenantId, workflowId, input: {} });
  // The first attempt and the INFRA_MAX_RETRIES (3) retries: each one's worker is killed.
  for (let i = 0; i < 4; i++) await killDuringStep(runId);
  const last = spawnEngineProcess(runnerEnv());
  procs.push(last);
  await waitFor(async () => (await runOf(runId)).status === 'dead', {
    timeoutMs: 20_000,
    what: 'the run to go dead',
  });
  // Not run a fifth time: the run ends with a code that says why.
  expect(last.events.filter((e) => e.event === 'step-start')).toEqual([]);
  expect(await runOf(runId)).toMatchObject({
    status: 'dead',
    error: { code: 'E_WORKER_LOST_REPEATEDLY', stepId: 'killer' },
  });
  expect((await stepsOf(runId)).map((s) => [s.attempt, s.error_code])).toEqual([
    [1, 'E_WORKER_LOST'],
    [2, 'E_WORKER_LOST'],
    [3, 'E_WORKER_LOST'],
    [4, 'E_WORKER_LOST'],
  ]);
  const dl = await db.ownerPool.query<{ error: { code: string } }>(
    'select error from dead_letters where run_id = $1',
    [runId],
  );
  expect(dl.rows.map((r) => r.error.code)).toEqual(['E_WORKER_LOST_REPEATEDLY']);
}, 90_000);
