import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import { cancelRun } from '../../src/engine/cancel.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { RunId, TenantId } from '../../src/model/ids.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  engineDeps,
  fakeClock,
  makeAction,
  makeWorkflow,
  ok,
  scriptedExecutor,
  sleep,
  waitFor,
} from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let tenantId: TenantId;
const workers: Worker[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  await db.drop();
});

const runRow = async (runId: RunId) =>
  (
    await db.ownerPool.query<{ status: string; output: unknown; error: { code: string } | null }>(
      'select status, output, error from workflow_runs where id = $1',
      [runId],
    )
  ).rows[0]!;

const stepRows = async (runId: RunId) =>
  (
    await db.ownerPool.query<{
      step_id: string;
      attempt: number;
      status: string;
      error_code: string | null;
      started_at: Date;
    }>(
      'select step_id, attempt, status, error_code, started_at from step_runs where run_id = $1 order by step_index, attempt',
      [runId],
    )
  ).rows;

const finalStatus = (runId: RunId) =>
  waitFor(
    async () => {
      const r = await runRow(runId);
      return ['succeeded', 'failed', 'dead', 'canceled'].includes(r.status) && r;
    },
    { what: `run ${runId} to finish` },
  );

describe('worker', () => {
  it('runs steps in order with if (skipped), onError: continue, outputs and trace context', async () => {
    const act = await makeAction(db.pool, tenantId);
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [
      { id: 'a', actionId: act },
      { id: 'b', actionId: act, if: 'false' },
      { id: 'c', actionId: act, onError: 'continue' },
      { id: 'd', actionId: act },
    ]);
    const executor = scriptedExecutor((req) => {
      if (req.step.if === 'false') return { status: 'skipped' };
      if (req.step.id === 'c')
        return {
          status: 'failed',
          error: { code: 'E_UPSTREAM_REJECTED', message: 'no', retryable: false },
        };
      return ok({ step: req.step.id, saw: Object.keys(req.context.steps) });
    });
    const deps = engineDeps(db.pool);
    const w = createWorker(deps, { executor, listenUrl: db.appUrl });
    workers.push(w);
    w.start();
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const { runId } = await startRun(deps, {
      tenantId,
      workflowId,
      input: { hello: 1 },
      traceparent: tp,
    });
    const run = await finalStatus(runId);
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ a: { step: 'a', saw: [] }, d: { step: 'd', saw: ['a'] } });
    expect((await stepRows(runId)).map((s) => [s.step_id, s.attempt, s.status])).toEqual([
      ['a', 1, 'succeeded'],
      ['b', 1, 'skipped'],
      ['c', 1, 'failed'],
      ['d', 1, 'succeeded'],
    ]);
    expect(executor.calls.every((c) => c.context.traceparent === tp)).toBe(true);
    expect(executor.calls[0]!.context.trigger).toEqual({ hello: 1 });
  });

  it('retries on the exact backoff schedule (injected clock), then dead-letters', async () => {
    const clock = fakeClock();
    const t0 = clock.now().getTime();
    const act = await makeAction(db.pool, tenantId, {
      retryStrategy: 'exponential',
      maxAttempts: 4,
      initialDelayMs: 1_000,
      maxDelayMs: 3_000,
    });
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 'only', actionId: act }]);
    const executor = scriptedExecutor(() => ({
      status: 'failed',
      error: { code: 'E_UPSTREAM_UNAVAILABLE', message: '503', retryable: true },
    }));
    // random() = 0.5: jitter takes 10% off each nominal delay (1000, 2000, min(3000, 4000)).
    const deps = engineDeps(db.pool, { clock, random: () => 0.5, config: { pollMs: 20 } });
    const w = createWorker(deps, { executor });
    workers.push(w);
    w.start();
    const { runId } = await startRun(deps, { tenantId, workflowId, input: {} });
    const expectedDelays = [900, 1_800, 2_700];
    let at = t0;
    for (const [i, delay] of expectedDelays.entries()) {
      await waitFor(
        async () => (await stepRows(runId)).filter((s) => s.status === 'failed').length === i + 1,
      );
      const job = await db.ownerPool.query<{ run_at: Date; attempt: number }>(
        'select run_at, attempt from jobs where run_id = $1',
        [runId],
      );
      expect(job.rows[0]!.run_at.getTime()).toBe(at + delay);
      clock.advance(delay - 1);
      w.poke();
      await sleep(150);
      expect(await stepRows(runId)).toHaveLength(i + 1); // not due yet: 1 ms early
      clock.advance(1);
      w.poke();
      at += delay;
      await waitFor(async () => (await stepRows(runId)).length === i + 2);
    }
    const run = await finalStatus(runId);
    expect(run.status).toBe('dead');
    const steps = await stepRows(runId);
    expect(steps.map((s) => s.started_at.getTime() - t0)).toEqual([0, 900, 2_700, 5_400]);
    expect(steps.map((s) => s.attempt)).toEqual([1, 2, 3, 4]);
    const dl = await db.ownerPool.query<{
      retry_count: number;
      error: { code: string };
      context: unknown;
    }>('select retry_count, error, context from dead_letters where run_id = $1', [runId]);
    expect(dl.rows[0]).toMatchObject({
      retry_count: 4,
      error: { code: 'E_UPSTREAM_UNAVAILABLE' },
      context: { input: {}, steps: {}, failedStepIndex: 0 },
    });
    expect(await db.ownerPool.query('select 1 from jobs where run_id = $1', [runId])).toMatchObject(
      { rowCount: 0 },
    );
  });

  it('stops at once on a non-retryable error, and honours Retry-After', async () => {
    const act = await makeAction(db.pool, tenantId, {
      retryStrategy: 'fixed',
      maxAttempts: 5,
      initialDelayMs: 100,
    });
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId: act }]);
    const clock = fakeClock();
    const deps = engineDeps(db.pool, { clock });
    let mode: 'reject' | 'later' = 'reject';
    const executor = scriptedExecutor(() =>
      mode === 'reject'
        ? {
            status: 'failed',
            error: { code: 'E_UPSTREAM_REJECTED', message: '400', retryable: false },
          }
        : {
            status: 'failed',
            error: {
              code: 'E_UPSTREAM_UNAVAILABLE',
              message: '429',
              retryable: true,
              retryAfterMs: 5_000,
            },
          },
    );
    const w = createWorker(deps, { executor });
    workers.push(w);
    w.start();
    const first = await startRun(deps, { tenantId, workflowId, input: {} });
    expect((await finalStatus(first.runId)).status).toBe('failed');
    expect(await stepRows(first.runId)).toHaveLength(1);
    // A failed run is dead-lettered too (replayable once its cause is fixed), with no retry.
    const dl = await db.ownerPool.query<{ retry_count: number; error: unknown }>(
      'select retry_count, error from dead_letters where run_id = $1',
      [first.runId],
    );
    expect(dl.rows).toEqual([
      { retry_count: 1, error: { code: 'E_UPSTREAM_REJECTED', message: '400', retryable: false } },
    ]);
    mode = 'later';
    const second = await startRun(deps, { tenantId, workflowId, input: {} });
    await waitFor(async () => (await stepRows(second.runId)).length === 1);
    const job = await waitFor(async () => {
      const r = await db.ownerPool.query<{ run_at: Date; status: string }>(
        'select run_at, status from jobs where run_id = $1',
        [second.runId],
      );
      return r.rows[0]?.status === 'pending' && r.rows[0];
    });
    expect(job.run_at.getTime()).toBe(clock.now().getTime() + 5_000);
  });

  it('a deferred step (rate limit, open breaker) is offered again later without counting an attempt', async () => {
    const act = await makeAction(db.pool, tenantId, { retryStrategy: 'none', maxAttempts: 1 });
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId: act }]);
    const clock = fakeClock();
    const deps = engineDeps(db.pool, { clock, config: { pollMs: 20 } });
    let deferrals = 2;
    const executor = scriptedExecutor(() =>
      deferrals-- > 0
        ? {
            status: 'failed',
            error: {
              code: 'E_RATE_LIMITED',
              message: 'slot at +2s',
              retryable: true,
              retryAfterMs: 2_000,
            },
          }
        : ok(),
    );
    const w = createWorker(deps, { executor });
    workers.push(w);
    w.start();
    const { runId } = await startRun(deps, { tenantId, workflowId, input: {} });
    for (let i = 1; i <= 2; i++) {
      const job = await waitFor(async () => {
        const r = await db.ownerPool.query<{ run_at: Date; attempt: number; status: string }>(
          'select run_at, attempt, status from jobs where run_id = $1',
          [runId],
        );
        return executor.calls.length === i && r.rows[0]?.status === 'pending' && r.rows[0];
      });
      expect(job.attempt).toBe(0);
      expect(job.run_at.getTime()).toBe(clock.now().getTime() + 2_000);
      expect(await stepRows(runId)).toHaveLength(0);
      clock.advance(2_000);
      w.poke();
    }
    expect((await finalStatus(runId)).status).toBe('succeeded');
    expect((await stepRows(runId)).map((s) => [s.attempt, s.status])).toEqual([[1, 'succeeded']]);
  });

  it('replays a dead letter from the failed step (earlier outputs reused) or from the start', async () => {
    const act = await makeAction(db.pool, tenantId);
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [
      { id: 'a', actionId: act },
      { id: 'b', actionId: act },
    ]);
    let bFails = true;
    const executor = scriptedExecutor((req) => {
      if (req.step.id === 'b' && bFails)
        return { status: 'failed', error: { code: 'E_NETWORK', message: 'down', retryable: true } };
      return ok({ from: req.step.id, a: req.context.steps.a?.output ?? null });
    });
    const deps = engineDeps(db.pool);
    const w = createWorker(deps, { executor, listenUrl: db.appUrl });
    workers.push(w);
    w.start();
    const { runId } = await startRun(deps, { tenantId, workflowId, input: { n: 1 } });
    expect((await finalStatus(runId)).status).toBe('dead');
    const { listDeadLetters, replayDeadLetter, replayDeadLetters } =
      await import('../../src/engine/dead-letter.ts');
    const [dl] = await listDeadLetters(deps, { tenantId, filter: { workflowId, limit: 10 } });
    expect(dl).toMatchObject({ runId, failedStepId: 'b', retryCount: 1 });
    bFails = false;
    const callsBefore = executor.calls.length;
    const actor = { kind: 'system' as const, id: 'test' };
    const replay = await replayDeadLetter(deps, {
      tenantId,
      deadLetterId: dl!.id,
      from: 'failed-step',
      actor,
    });
    const replayed = await finalStatus(replay.newRunId);
    expect(replayed.status).toBe('succeeded');
    // Only b ran again, and it saw a's output from the first run.
    expect(executor.calls.slice(callsBefore).map((c) => c.step.id)).toEqual(['b']);
    expect(replayed.output).toMatchObject({ b: { from: 'b', a: { from: 'a', a: null } } });
    const link = await db.ownerPool.query(
      'select replay_of_run_id from workflow_runs where id = $1',
      [replay.newRunId],
    );
    expect(link.rows[0]).toEqual({ replay_of_run_id: runId });
    const audit = await db.ownerPool.query(
      `select 1 from audit_events where action = 'run.replayed' and target_id = $1`,
      [runId],
    );
    expect(audit.rowCount).toBe(1);
    // By filter: the dead letter was replayed, so its replay is answered and nothing runs.
    const calls2 = executor.calls.length;
    const same = await replayDeadLetters(deps, {
      tenantId,
      filter: { workflowId, limit: 10 },
      from: 'start',
      actor,
    });
    expect(same).toEqual([
      { deadLetterId: dl!.id, runId, newRunId: replay.newRunId, alreadyReplayed: true },
    ]);
    // Asked for explicitly, from the start: a new replay, both steps run.
    const many = await replayDeadLetters(deps, {
      tenantId,
      filter: { workflowId, limit: 10 },
      from: 'start',
      again: true,
      actor,
    });
    expect(many).toHaveLength(1);
    expect(many[0]).toMatchObject({ alreadyReplayed: false });
    expect(many[0]!.newRunId).not.toBe(replay.newRunId);
    expect((await finalStatus(many[0]!.newRunId)).status).toBe('succeeded');
    expect(executor.calls.slice(calls2).map((c) => c.step.id)).toEqual(['a', 'b']);
    // Every replay carries the original run as the origin of its idempotency keys.
    expect(new Set(executor.calls.slice(callsBefore).map((c) => c.context.originRunId))).toEqual(
      new Set([runId]),
    );
  });

  it('cancels: a queued run never starts, a running step gets its abort signal', async () => {
    const act = await makeAction(db.pool, tenantId);
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [
      { id: 'long', actionId: act },
      { id: 'after', actionId: act },
    ]);
    const deps = engineDeps(db.pool);
    const actor = { kind: 'user' as const, id: null };
    const queued = await startRun(deps, { tenantId, workflowId, input: {} });
    expect(await cancelRun(deps, { tenantId, runId: queued.runId, actor })).toEqual({
      canceled: true,
      status: 'canceled',
    });
    expect(
      (await db.ownerPool.query('select 1 from jobs where run_id = $1', [queued.runId])).rowCount,
    ).toBe(0);

    let aborted = false;
    const executor = scriptedExecutor(
      (_req, signal) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve({
              status: 'failed',
              error: { code: 'E_STEP_CANCELED', message: 'aborted', retryable: true },
            });
          });
        }),
    );
    const w = createWorker(deps, { executor, listenUrl: db.appUrl });
    workers.push(w);
    w.start();
    const running = await startRun(deps, { tenantId, workflowId, input: {} });
    await waitFor(() => executor.calls.length === 1);
    const t = Date.now();
    await cancelRun(deps, { tenantId, runId: running.runId, actor });
    await waitFor(() => aborted, { timeoutMs: 5_000, what: 'abort signal' });
    expect(Date.now() - t).toBeLessThan(3_000);
    await sleep(100);
    expect(await runRow(running.runId)).toMatchObject({
      status: 'canceled',
      error: { code: 'E_RUN_CANCELED' },
    });
    expect((await stepRows(running.runId)).map((s) => [s.step_id, s.status])).toEqual([
      ['long', 'canceled'],
    ]);
    expect(executor.calls).toHaveLength(1);
    expect(w.inFlight()).toBe(0);
    // Too late: a finished run is not canceled, and the answer says so (it was succeeded-as-if).
    await expect(cancelRun(deps, { tenantId, runId: queued.runId, actor })).rejects.toMatchObject({
      code: 'E_CONFLICT',
      message: expect.stringContaining('already finished (canceled)') as unknown,
    });
  });

  it('a stale claim can neither complete nor fail its step', async () => {
    const { claimJobs, requeueExpiredJobs } = await import('../../src/db/queries/jobs.ts');
    const { withSystem } = await import('../../src/db/tenant.ts');
    const { recordOutcome, StaleClaim } = await import('../../src/engine/outcome.ts');
    const t = (await makeTenant(db.pool)).tenantId;
    const act = await makeAction(db.pool, t);
    const { workflowId } = await makeWorkflow(db.pool, t, [{ id: 's', actionId: act }]);
    const clock = fakeClock();
    const deps = engineDeps(db.pool, { clock });
    const { runId } = await startRun(deps, { tenantId: t, workflowId, input: {} });
    const claim = (workerId: string) =>
      withSystem(db.pool, (c) =>
        claimJobs(c, {
          now: clock.now(),
          workerId,
          limit: 10,
          leaseMs: 1_000,
          tenantMaxConcurrency: 10,
        }),
      );
    const [a] = (await claim('A')).filter((j) => j.runId === runId);
    clock.advance(1_001);
    await withSystem(db.pool, (c) => requeueExpiredJobs(c, { now: clock.now() }));
    const [b] = (await claim('B')).filter((j) => j.runId === runId);
    expect([a!.attempt, b!.attempt]).toEqual([1, 2]);
    const plan = {
      tenantId: t,
      runId,
      workflowId,
      jobId: a!.jobId,
      attempt: a!.attempt,
      countedAttempts: 1,
      stepIndex: 0,
      stepCount: 1,
      stepId: 's',
      onError: 'fail' as const,
      policy: { strategy: 'none' as const, maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
      runInput: {},
      outputs: {},
      workerId: 'A',
      stepRunId: null,
      actionKind: null,
      runCreatedAt: new Date(),
      attemptStartedAt: new Date(),
    };
    await expect(
      recordOutcome(deps, plan, { kind: 'succeeded', input: {}, output: 1 }),
    ).rejects.toBeInstanceOf(StaleClaim);
    await expect(
      recordOutcome(deps, plan, {
        kind: 'failed',
        error: { code: 'E_NETWORK', message: 'x', retryable: false },
      }),
    ).rejects.toBeInstanceOf(StaleClaim);
    expect((await runRow(runId)).status).toBe('queued');
    const job = await db.ownerPool.query('select locked_by, attempt from jobs where run_id = $1', [
      runId,
    ]);
    expect(job.rows[0]).toEqual({ locked_by: 'B', attempt: 2 });
  });

  it('shutdown drains: in-flight steps finish, the rest are released to another worker at once', async () => {
    const t = (await makeTenant(db.pool)).tenantId;
    const act = await makeAction(db.pool, t, { retryStrategy: 'fixed', maxAttempts: 3 });
    const { workflowId } = await makeWorkflow(db.pool, t, [{ id: 's', actionId: act }]);
    const deps = engineDeps(db.pool, { config: { shutdownDeadlineMs: 800 } });
    const slow = new Set<string>();
    const executor = scriptedExecutor(
      (req, signal) =>
        new Promise((resolve) => {
          const ms = slow.has(req.context.runId) ? 60_000 : 300;
          const timer = setTimeout(() => resolve(ok()), ms);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve({
              status: 'failed',
              error: { code: 'E_STEP_CANCELED', message: 'aborted', retryable: true },
            });
          });
        }),
    );
    const w1 = createWorker(deps, { executor, listenUrl: db.appUrl });
    w1.start();
    const fast = await Promise.all(
      [1, 2].map(() => startRun(deps, { tenantId: t, workflowId, input: {} })),
    );
    const long = await startRun(deps, { tenantId: t, workflowId, input: {} });
    slow.add(long.runId);
    await waitFor(() => executor.calls.length === 3);
    const t0 = Date.now();
    await w1.stop();
    expect(Date.now() - t0).toBeLessThan(5_000);
    for (const r of fast) expect((await runRow(r.runId)).status).toBe('succeeded');
    const job = await db.ownerPool.query<{
      status: string;
      attempt: number;
      locked_by: string | null;
    }>('select status, attempt, locked_by from jobs where run_id = $1', [long.runId]);
    expect(job.rows[0]).toEqual({ status: 'pending', attempt: 1, locked_by: null });
    expect((await stepRows(long.runId)).map((s) => [s.status, s.error_code])).toEqual([
      ['failed', 'E_WORKER_LOST'],
    ]);
    slow.delete(long.runId);
    const w2 = createWorker(deps, { executor, listenUrl: db.appUrl });
    workers.push(w2);
    w2.start();
    expect((await finalStatus(long.runId)).status).toBe('succeeded');
    expect((await stepRows(long.runId)).map((s) => s.attempt)).toEqual([1, 2]);
  });
  it('a retry due sooner than the poll interval starts when due, not at the next poll', async () => {
    const act = await makeAction(db.pool, tenantId, {
      retryStrategy: 'fixed',
      maxAttempts: 2,
      initialDelayMs: 200,
    });
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId: act }]);
    let failures = 1;
    const executor = scriptedExecutor(() =>
      failures-- > 0
        ? { status: 'failed', error: { code: 'E_NETWORK', message: 'reset', retryable: true } }
        : ok(),
    );
    // random() = 0: no jitter, the backoff is exactly 200 ms; the poll is every 2 s.
    const deps = engineDeps(db.pool, { config: { pollMs: 2_000 } });
    const w = createWorker(deps, { executor, listenUrl: db.appUrl });
    workers.push(w);
    w.start();
    const { runId } = await startRun(deps, { tenantId, workflowId, input: {} });
    expect((await finalStatus(runId)).status).toBe('succeeded');
    const steps = await db.ownerPool.query<{ started_at: Date; finished_at: Date }>(
      'select started_at, finished_at from step_runs where run_id = $1 order by attempt',
      [runId],
    );
    const [first, second] = steps.rows;
    // Loose bounds (timing belongs to bench): due 200 ms after the failure was recorded.
    const waitedMs = second!.started_at.getTime() - first!.finished_at.getTime();
    expect(waitedMs).toBeGreaterThanOrEqual(150);
    expect(waitedMs).toBeLessThan(400);
  });

  it('a run that goes dead logs one warn line with its run, workflow, step and code', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = {
      write: (line: string) => {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    };
    const logger = createLogger({ level: 'info', name: 'dead-test' }, sink);
    const act = await makeAction(db.pool, tenantId, { retryStrategy: 'fixed', maxAttempts: 2 });
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 'flaky', actionId: act }]);
    const executor = scriptedExecutor(() => ({
      status: 'failed',
      error: { code: 'E_UPSTREAM_UNAVAILABLE', message: '503', retryable: true },
    }));
    const deps = { ...engineDeps(db.pool), logger };
    const w = createWorker(deps, { executor, listenUrl: db.appUrl });
    workers.push(w);
    w.start();
    const { runId } = await startRun(deps, { tenantId, workflowId, input: {} });
    expect((await finalStatus(runId)).status).toBe('dead');
    await waitFor(() => lines.some((l) => l.runId === runId && l.level === 40));
    const warns = lines.filter((l) => l.level === 40 && l.runId === runId);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({
      runId,
      workflowId,
      stepId: 'flaky',
      code: 'E_UPSTREAM_UNAVAILABLE',
      attempts: 2,
    });
  });
});
