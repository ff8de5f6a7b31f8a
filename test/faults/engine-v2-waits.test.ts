/**
 * Version-2 runs against process faults, with real worker processes: a worker SIGKILLed while
 * its runs wait at a delay and while it is taking them on after the deadline (every run still
 * finishes once, no step completes twice), and the replay of a run that died inside a switch
 * branch (it resumes in that branch). PostgreSQL restarts: engine-v2-pg-restart.test.ts.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { replayDeadLetter } from '../../src/engine/dead-letter.ts';
import { startRun } from '../../src/engine/start-run.ts';
import type { RunId } from '../../src/model/ids.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, waitFor } from '../support/engine-factories.ts';
import {
  shortLeaseWorkerEnv,
  spawnEngineProcess,
  type EngineProcess,
} from '../support/engine-spawn.ts';
import { makeWorkflowV2, stepRunsOf } from '../support/engine-v2.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
const procs: EngineProcess[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
});
afterAll(async () => {
  await db.drop();
});

const env = () => shortLeaseWorkerEnv(db.appUrl);

function spawn(): EngineProcess {
  const p = spawnEngineProcess(env());
  procs.push(p);
  return p;
}

const statuses = async (runIds: RunId[]) =>
  (
    await db.ownerPool.query<{ status: string; n: number }>(
      'select status, count(*)::int n from workflow_runs where id = any($1) group by status',
      [runIds],
    )
  ).rows;

it('a worker SIGKILLed around a delay: every run finishes once, no step completes twice', async () => {
  const tenantId = (await makeTenant(db.pool)).tenantId;
  const act = await makeAction(db.pool, tenantId, { retryStrategy: 'fixed', maxAttempts: 3 });
  const { workflowId } = await makeWorkflowV2(db.pool, tenantId, {
    version: 2,
    steps: [
      { id: 'a', actionId: act, input: {} },
      { id: 'pause', type: 'delay', duration: '2s' },
      { id: 'b', actionId: act, input: { sleepMs: 600 } },
    ],
  });
  const first = spawn();
  await first.ready;
  const deps = engineDeps(db.pool);
  const runIds = await Promise.all(
    Array.from(
      { length: 8 },
      async (_, i) => (await startRun(deps, { tenantId, workflowId, input: { i } })).runId,
    ),
  );
  // All eight wait, holding nothing: killing their worker now costs them nothing.
  await waitFor(
    async () => (await statuses(runIds)).some((s) => s.status === 'waiting' && s.n === 8),
    {
      what: 'eight waiting runs',
    },
  );
  await first.kill('SIGKILL');
  // A second worker takes them on at the deadline; it is killed in the middle of that.
  const second = spawn();
  await waitFor(() => second.events.some((e) => e.event === 'step-start' && e.stepId === 'b'), {
    timeoutMs: 20_000,
    what: 'the second worker to go on after the delay',
  });
  await second.kill('SIGKILL');
  spawn();
  await waitFor(
    async () => (await statuses(runIds)).some((s) => s.status === 'succeeded' && s.n === 8),
    {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: 'all eight runs to succeed',
    },
  );
  for (const runId of runIds) {
    const rows = await stepRunsOf(db, runId);
    const done = rows.filter((r) => r.status === 'succeeded').map((r) => r.step_id);
    expect(done).toEqual(['a', 'pause', 'b']);
    // The wait's StepRun is one row, finished once; a lost attempt of `b` is recorded as such.
    expect(rows.filter((r) => r.step_id === 'pause').map((r) => [r.attempt, r.status])).toEqual([
      [1, 'succeeded'],
    ]);
    expect(
      rows.filter((r) => r.status !== 'succeeded').every((r) => r.error_code === 'E_WORKER_LOST'),
    ).toBe(true);
  }
  expect(
    (await db.ownerPool.query('select 1 from jobs where run_id = any($1)', [runIds])).rowCount,
  ).toBe(0);
}, 90_000);

it('a run that died inside a switch branch is replayed from there: it resumes in that branch', async () => {
  const tenantId = (await makeTenant(db.pool)).tenantId;
  const act = await makeAction(db.pool, tenantId);
  const { workflowId } = await makeWorkflowV2(db.pool, tenantId, {
    version: 2,
    steps: [
      { id: 'fetch', actionId: act, input: {} },
      {
        id: 'route',
        type: 'switch',
        branches: [
          { name: 'a', when: '{{ trigger.a }}', steps: [{ id: 'a1', actionId: act, input: {} }] },
          {
            name: 'b',
            when: 'true',
            steps: [
              { id: 'b1', actionId: act, input: {} },
              { id: 'killer', actionId: act, input: { sleepMs: 2_500 } },
              { id: 'b3', actionId: act, input: {} },
            ],
          },
        ],
      },
      { id: 'join', actionId: act, input: {} },
    ],
  });
  const { runId } = await startRun(engineDeps(db.pool), {
    tenantId,
    workflowId,
    input: { a: false },
  });
  // The first attempt of `killer` and its three infrastructure retries: each worker is killed.
  for (let i = 0; i < 4; i++) {
    const p = spawn();
    await waitFor(
      () =>
        p.events.some(
          (e) => e.event === 'step-start' && e.runId === runId && e.stepId === 'killer',
        ),
      { timeoutMs: 20_000, what: `a worker to start killer (${i + 1})` },
    );
    await p.kill('SIGKILL');
  }
  const last = spawn();
  await waitFor(
    async () =>
      (
        await db.ownerPool.query<{ status: string }>(
          'select status from workflow_runs where id = $1',
          [runId],
        )
      ).rows[0]!.status === 'dead',
    { timeoutMs: 20_000, what: 'the run to go dead' },
  );
  const dl = await db.ownerPool.query<{ id: string; context: { failedStepIndex: number } }>(
    'select id, context from dead_letters where run_id = $1',
    [runId],
  );
  expect(dl.rows[0]!.context.failedStepIndex).toBe(4);
  const replayed = await replayDeadLetter(engineDeps(db.pool), {
    tenantId,
    deadLetterId: dl.rows[0]!.id,
    from: 'failed-step',
    actor: { kind: 'system', id: null },
  });
  await waitFor(
    async () =>
      (
        await db.ownerPool.query<{ status: string }>(
          'select status from workflow_runs where id = $1',
          [replayed.newRunId],
        )
      ).rows[0]!.status === 'succeeded',
    { timeoutMs: 20_000, what: 'the replay to succeed' },
  );
  // In the branch: only the failed step and what follows it ran again.
  expect(
    last.events
      .filter((e) => e.event === 'step-start' && e.runId === replayed.newRunId)
      .map((e) => e.stepId),
  ).toEqual(['killer', 'b3', 'join']);
  expect(
    (await stepRunsOf(db, replayed.newRunId)).map((r) => [r.step_id, r.status, r.branch]),
  ).toEqual([
    ['fetch', 'succeeded', null],
    ['route', 'succeeded', 'b'],
    ['b1', 'succeeded', null],
    ['killer', 'succeeded', null],
    ['b3', 'succeeded', null],
    ['join', 'succeeded', null],
  ]);
}, 120_000);
