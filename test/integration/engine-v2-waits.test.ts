/**
 * Version-2 delay and waitUntil through the real engine and PostgreSQL: the generic wait (run
 * `waiting`, StepRun `waiting` with its deadline, the job pending until then, no claim held),
 * an early claim put back, cancel during a wait.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cancelRun } from '../../src/engine/cancel.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import { claimJobs, countTenantJobs, JOBS_CHANNEL } from '../../src/db/queries/jobs.ts';
import { withSystem } from '../../src/db/tenant.ts';
import { recordOutcome, StaleClaim } from '../../src/engine/outcome.ts';
import type { ActionId, RunId, TenantId } from '../../src/model/ids.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, waitFor } from '../support/engine-factories.ts';
import {
  finalRun,
  makeWorkflowV2,
  mappingExecutor,
  runOf,
  runnerMapping,
  stepRunsOf,
} from '../support/engine-v2.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let tenantId: TenantId;
let act: ActionId;
const workers: Worker[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
  act = await makeAction(db.pool, tenantId);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  await db.drop();
});

function startWorker() {
  const executor = mappingExecutor((_id, input) => ({ status: 'succeeded', input, output: input }));
  const w = createWorker(engineDeps(db.pool), {
    executor,
    listenUrl: db.appUrl,
    mapping: runnerMapping,
  });
  workers.push(w);
  w.start();
  return executor;
}

const step = (id: string, input: unknown = {}) => ({ id, actionId: act, input });

async function start(definition: unknown, input: unknown = {}) {
  const { workflowId } = await makeWorkflowV2(db.pool, tenantId, definition);
  return (await startRun(engineDeps(db.pool), { tenantId, workflowId, input })).runId;
}

const jobOf = async (runId: RunId) =>
  (
    await db.ownerPool.query<{
      status: string;
      run_at: Date;
      attempt: number;
      locked_by: string | null;
      step_index: number;
    }>('select status, run_at, attempt, locked_by, step_index from jobs where run_id = $1', [runId])
  ).rows[0];

const waitingStep = (runId: RunId) =>
  waitFor(async () => (await stepRunsOf(db, runId)).find((r) => r.status === 'waiting'), {
    what: 'a waiting step',
  });

describe('delay', () => {
  it('waits holding nothing: run and StepRun waiting, the job pending at the deadline; then goes on', async () => {
    startWorker();
    const before = Date.now();
    const runId = await start({
      version: 2,
      steps: [step('a', { n: 1 }), { id: 'pause', type: 'delay', duration: '1500ms' }, step('b')],
    });
    const waiting = await waitingStep(runId);
    expect(waiting.step_id).toBe('pause');
    const deadline = waiting.wait_until!.getTime();
    expect(deadline).toBeGreaterThanOrEqual(before + 1500);
    expect((await runOf(db, runId)).status).toBe('waiting');
    const job = await jobOf(runId);
    expect(job).toMatchObject({ status: 'waiting', locked_by: null, step_index: 1, attempt: 0 });
    expect(job!.run_at.getTime()).toBe(deadline);
    // Not queued work: out of the tenant's queue depth (backpressure).
    expect(await withSystem(db.pool, (c) => countTenantJobs(c, { tenantId, cap: 100 }))).toBe(0);

    const final = await finalRun(db, runId);
    expect(final.status).toBe('succeeded');
    const rows = await stepRunsOf(db, runId);
    expect(rows.map((r) => [r.step_id, r.attempt, r.status])).toEqual([
      ['a', 1, 'succeeded'],
      ['pause', 1, 'succeeded'],
      ['b', 1, 'succeeded'],
    ]);
    expect(rows[1]!.output).toEqual({ waitedUntil: new Date(deadline).toISOString() });
    expect(rows[1]!.wait_until!.getTime()).toBe(deadline);
    const b = await db.ownerPool.query<{ started_at: Date }>(
      `select started_at from step_runs where run_id = $1 and step_id = 'b'`,
      [runId],
    );
    expect(b.rows[0]!.started_at.getTime()).toBeGreaterThanOrEqual(deadline);
  });

  it('a job claimed before its deadline (an early wake-up) goes back to wait until it', async () => {
    startWorker();
    const runId = await start({
      version: 2,
      steps: [{ id: 'pause', type: 'delay', duration: '2s' }, step('b')],
    });
    const waiting = await waitingStep(runId);
    // Make the waiting job due now and wake the workers, as clock skew would: the sweep makes
    // it pending, a worker claims it, sees the StepRun's deadline ahead and puts it back.
    await db.ownerPool.query(`update jobs set run_at = now() where run_id = $1`, [runId]);
    await db.ownerPool.query(`select pg_notify($1, '')`, [JOBS_CHANNEL]);
    await waitFor(async () => {
      const j = await jobOf(runId);
      return j?.status === 'waiting' && j.run_at.getTime() === waiting.wait_until!.getTime() && j;
    });
    expect((await stepRunsOf(db, runId)).map((r) => [r.step_id, r.attempt, r.status])).toEqual([
      ['pause', 1, 'waiting'],
    ]);
    expect((await runOf(db, runId)).status).toBe('waiting');
    expect((await finalRun(db, runId)).status).toBe('succeeded');
    expect((await stepRunsOf(db, runId)).map((r) => [r.step_id, r.attempt, r.status])).toEqual([
      ['pause', 1, 'succeeded'],
      ['b', 1, 'succeeded'],
    ]);
  });

  it('a waiting run can be canceled: the job is gone and the waiting step canceled', async () => {
    startWorker();
    const runId = await start({
      version: 2,
      steps: [{ id: 'pause', type: 'delay', duration: '1h' }, step('b')],
    });
    await waitingStep(runId);
    await cancelRun(engineDeps(db.pool), {
      tenantId,
      runId,
      actor: { kind: 'system', id: null },
    });
    expect((await runOf(db, runId)).status).toBe('canceled');
    expect(await jobOf(runId)).toBeUndefined();
    expect((await stepRunsOf(db, runId)).map((r) => [r.step_id, r.status])).toEqual([
      ['pause', 'canceled'],
    ]);
  });
});

describe('waitUntil', () => {
  it('waits until the date the mapping resolves to; a past date goes on at once', async () => {
    startWorker();
    const until = new Date(Date.now() + 1200).toISOString();
    const runId = await start(
      {
        version: 2,
        steps: [
          { id: 'past', type: 'waitUntil', until: '{{ trigger.past }}' },
          { id: 'later', type: 'waitUntil', until: '{{ trigger.until }}' },
          step('b'),
        ],
      },
      { past: '2020-01-01T00:00:00Z', until },
    );
    const waiting = await waitingStep(runId);
    expect(waiting.step_id).toBe('later');
    expect(waiting.wait_until!.toISOString()).toBe(until);
    const final = await finalRun(db, runId);
    expect(final.status).toBe('succeeded');
    const rows = await stepRunsOf(db, runId);
    expect(rows.map((r) => [r.step_id, r.status, r.output])).toEqual([
      ['past', 'succeeded', { waitedUntil: '2020-01-01T00:00:00.000Z' }],
      ['later', 'succeeded', { waitedUntil: until }],
      ['b', 'succeeded', {}],
    ]);
  });

  it('a value that is not a date fails the step, naming it', async () => {
    startWorker();
    const runId = await start(
      { version: 2, steps: [{ id: 'w', type: 'waitUntil', until: '{{ trigger.when }}' }] },
      { when: 'tomorrow-ish' },
    );
    const final = await finalRun(db, runId);
    expect(final.status).toBe('failed');
    expect(final.error).toMatchObject({
      code: 'E_VALIDATION',
      message: 'definition.steps[0].until: "tomorrow-ish" is not an ISO 8601 date.',
      stepId: 'w',
    });
  });
});

/**
 * A resumer as the contract has it (control/index.ts): in one transaction guarded by the
 * StepRun being `waiting`, its outcome, the job due now, a NOTIFY.
 */
async function resume(runId: RunId, stepId: string, outcome: { output?: unknown; error?: string }) {
  const r = await db.ownerPool.query(
    `with s as (
       update step_runs set status = $3, output = $4, error_code = $5, error_message = $6,
              error_retryable = case when $5::text is null then null else false end,
              finished_at = now()
        where run_id = $1 and step_id = $2 and status = 'waiting' returning run_id)
     update jobs set status = 'pending', run_at = now() from s where jobs.run_id = s.run_id
     returning pg_notify('${JOBS_CHANNEL}', '')`,
    [
      runId,
      stepId,
      outcome.error ? 'failed' : 'succeeded',
      outcome.error ? null : JSON.stringify(outcome.output),
      outcome.error ?? null,
      outcome.error ? 'the resumer said no' : null,
    ],
  );
  return r.rowCount;
}

describe('a wait resolved by a resumer', () => {
  it('takes the resumed outcome as the step: its output for the next steps, or its failure', async () => {
    const executor = startWorker();
    const definition = {
      version: 2,
      steps: [
        { id: 'approval', type: 'delay', duration: '1h' },
        step('after', { approved: '{{ steps.approval.output.approved }}' }),
      ],
    };
    const ok = await start(definition);
    await waitingStep(ok);
    expect(await resume(ok, 'approval', { output: { approved: true } })).toBe(1);
    const done = await finalRun(db, ok);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ approval: { approved: true }, after: { approved: true } });
    expect(executor.calls.find((c) => c.context.runId === ok)!.context.steps).toEqual({
      approval: { output: { approved: true } },
    });
    expect((await stepRunsOf(db, ok)).map((r) => [r.step_id, r.attempt, r.status])).toEqual([
      ['approval', 1, 'succeeded'],
      ['after', 1, 'succeeded'],
    ]);

    const no = await start(definition);
    await waitingStep(no);
    expect(await resume(no, 'approval', { error: 'E_UPSTREAM_REJECTED' })).toBe(1);
    const failed = await finalRun(db, no);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'E_UPSTREAM_REJECTED', stepId: 'approval' });
    // A second resume finds nothing waiting: exactly one resolution.
    expect(await resume(no, 'approval', { output: {} })).toBe(0);
  });

  it("the engine's own decision on a waiting step loses to a resumer that got there first", async () => {
    // No worker: this test claims the job itself, as a worker deciding the deadline would.
    const runId = await start({
      version: 2,
      steps: [{ id: 'pause', type: 'delay', duration: '1h' }],
    });
    startWorker();
    await waitingStep(runId);
    await Promise.all(workers.splice(0).map((x) => x.stop()));
    // Due: as at its deadline.
    await db.ownerPool.query(
      `update jobs set status = 'pending', run_at = now() - interval '1 second' where run_id = $1`,
      [runId],
    );
    const [job] = (
      await withSystem(db.pool, (c) =>
        claimJobs(c, {
          now: new Date(),
          workerId: 'decider',
          limit: 10,
          leaseMs: 30_000,
          tenantMaxConcurrency: 10,
        }),
      )
    ).filter((j) => j.runId === runId);
    const [waiting] = await stepRunsOf(db, runId);
    expect(waiting!.status).toBe('waiting');
    const stepRunId = (
      await db.ownerPool.query<{ id: string }>('select id from step_runs where run_id = $1', [
        runId,
      ])
    ).rows[0]!.id;
    // The resumer commits first.
    expect(await resume(runId, 'pause', { output: { by: 'resumer' } })).toBe(1);
    const plan = {
      tenantId,
      runId,
      workflowId: (
        await db.ownerPool.query<{ workflow_id: string }>(
          'select workflow_id from workflow_runs where id = $1',
          [runId],
        )
      ).rows[0]!.workflow_id as never,
      jobId: job!.jobId,
      attempt: job!.attempt,
      countedAttempts: 1,
      stepIndex: 0,
      stepCount: 1,
      stepId: 'pause',
      onError: 'fail' as const,
      policy: { strategy: 'none' as const, maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
      runInput: {},
      outputs: {},
      workerId: 'decider',
      stepRunId: stepRunId as never,
      actionKind: null,
      runCreatedAt: new Date(),
      attemptStartedAt: new Date(),
      next: 'end' as const,
    };
    await expect(
      recordOutcome(engineDeps(db.pool), plan, {
        kind: 'succeeded',
        input: undefined,
        output: { by: 'engine' },
        fromWaiting: true,
      }),
    ).rejects.toBeInstanceOf(StaleClaim);
    const [row] = await stepRunsOf(db, runId);
    expect([row!.status, row!.output]).toEqual(['succeeded', { by: 'resumer' }]);
    expect((await runOf(db, runId)).status).toBe('waiting');
    // A worker then takes the job (given back) and goes on with the resumer's outcome.
    await db.ownerPool.query(
      `update jobs set status = 'pending', locked_by = null, attempt = attempt - 1 where run_id = $1`,
      [runId],
    );
    startWorker();
    const final = await finalRun(db, runId);
    expect(final.status).toBe('succeeded');
    expect(final.output).toEqual({ pause: { by: 'resumer' } });
  });
});
