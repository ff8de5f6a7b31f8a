/**
 * The run intake hands new runs to the worker of its own process (engine/intake.ts, HandOff):
 * while that worker has free slots and the queue holds nothing due, a run's first job is
 * created claimed by it and runs with no claim and no wake-up. Otherwise — the tenant's older
 * runs due in the queue, the tenant at its cap of running steps, the worker stopping — the run
 * is queued as before, and a claim takes it in order.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRunIntake } from '../../src/engine/intake.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import type { EngineConfig } from '../../src/config/engine.ts';
import type { RunId } from '../../src/model/ids.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  engineDeps,
  makeAction,
  makeWorkflow,
  ok,
  scriptedExecutor,
  sleep,
  waitFor,
} from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { withTenant } from '../../src/db/tenant.ts';

let db: TestDatabase;
const workers: Worker[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  await db.drop();
});

/** A step that runs until the test lets it finish. */
function gatedExecutor() {
  const gates: (() => void)[] = [];
  let live = 0;
  let peak = 0;
  const executor = scriptedExecutor(async () => {
    peak = Math.max(peak, ++live);
    await new Promise<void>((r) => gates.push(r));
    live--;
    return ok();
  });
  return {
    executor,
    peak: () => peak,
    releaseAll: () => gates.splice(0).forEach((r) => r()),
  };
}

/**
 * A tenant, its workflow, an intake and a worker of one process. Without `listen` the worker
 * hears no wake-up and polls once a minute: a run it starts within seconds was handed over.
 */
async function oneProcess(opts: { listen?: boolean; config?: Partial<EngineConfig> } = {}) {
  const { tenantId } = await makeTenant(db.pool);
  const actionId = await makeAction(db.pool, tenantId);
  const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId }]);
  const deps = engineDeps(db.pool, { config: { pollMs: 60_000, ...opts.config } });
  const gated = gatedExecutor();
  const worker = createWorker(deps, {
    executor: gated.executor,
    ...(opts.listen ? { listenUrl: db.appUrl } : {}),
  });
  workers.push(worker);
  worker.start();
  const intake = createRunIntake(deps);
  intake.handOffTo(worker.handOff);
  // The worker's first claim has told it the queue holds nothing due.
  await sleep(300);
  const start = async (input: unknown = {}) =>
    (await intake.start({ tenantId, workflowId, input })).runId;
  return { tenantId, workflowId, actionId, worker, gated, start };
}

/** A run of the workflow, from its start to its end (its step let through). */
async function runToEnd(p: Awaited<ReturnType<typeof oneProcess>>) {
  const calls = p.gated.executor.calls.length;
  const runId = await p.start();
  await waitFor(() => p.gated.executor.calls.length === calls + 1, { what: 'the step' });
  p.gated.releaseAll();
  await waitFor(async () => (await runStatus(runId)) === 'succeeded', { what: 'the run' });
}

const attemptsOf = async (runId: RunId) =>
  (
    await db.ownerPool.query<{ status: string; attempt: number }>(
      'select status, attempt from step_runs where run_id = $1 order by attempt',
      [runId],
    )
  ).rows;

/** The writer of a run's first StepRun: the intake's transaction (the run's) or another. */
const firstAttemptOf = async (runId: RunId) =>
  (
    await db.ownerPool.query<{ attempts: number; by_intake: boolean; status: string }>(
      `select count(*) over ()::int as attempts, s.xmin = r.xmin as by_intake, s.status
         from step_runs s join workflow_runs r on r.tenant_id = s.tenant_id and r.id = s.run_id
        where s.run_id = $1 order by s.attempt limit 1`,
      [runId],
    )
  ).rows[0];

const jobOf = async (runId: RunId) =>
  (
    await db.ownerPool.query<{ status: string; locked_by: string | null; attempt: number }>(
      'select status, locked_by, attempt from jobs where run_id = $1',
      [runId],
    )
  ).rows[0];
const runStatus = async (runId: RunId) =>
  (
    await db.ownerPool.query<{ status: string }>('select status from workflow_runs where id = $1', [
      runId,
    ])
  ).rows[0]?.status;

describe('the intake hands new runs to the worker of its process', () => {
  it('an idle worker runs a new run at once, its job claimed by the statement that made it', async () => {
    const p = await oneProcess();
    const runId = await p.start({ n: 1 });
    // No wake-up reaches this worker and its next poll is a minute away.
    await waitFor(() => p.gated.executor.calls.length === 1, {
      timeoutMs: 5_000,
      what: 'the handed-over step',
    });
    expect(await jobOf(runId)).toEqual({ status: 'running', locked_by: p.worker.id, attempt: 1 });
    // The run was created running by the same statement, and its attempt's start, now
    // recorded, did not write it again (its row is still the intake transaction's).
    const run = (
      await db.ownerPool.query<{ status: string; started: boolean; same_writer: boolean }>(
        `select r.status, r.started_at = r.created_at as started, r.xmin = j.xmin as same_writer
           from workflow_runs r join jobs j on j.tenant_id = r.tenant_id and j.run_id = r.id
          where r.id = $1`,
        [runId],
      )
    ).rows[0];
    expect(run).toEqual({ status: 'running', started: true, same_writer: true });
    expect(
      (
        await db.ownerPool.query<{ n: number }>(
          `select count(*)::int as n from step_runs where run_id = $1 and status = 'running'`,
          [runId],
        )
      ).rows[0]!.n,
    ).toBe(1);
    expect(p.gated.executor.calls[0]!.context).toMatchObject({
      runId,
      attempt: 1,
      trigger: { n: 1 },
    });
    p.gated.releaseAll();
    await waitFor(async () => (await runStatus(runId)) === 'succeeded', { what: 'the run' });
  });

  it("queues a new run behind the tenant's runs already due, as the claim would", async () => {
    const p = await oneProcess();
    // A run queued before (by another process, say), due now; this worker has not claimed it.
    const older = await p.start();
    await waitFor(() => p.gated.executor.calls.length === 1);
    await db.ownerPool.query(
      `update jobs set status = 'pending', locked_by = null, lease_expires_at = null, attempt = 0
        where run_id = $1`,
      [older],
    );
    const newer = await p.start();
    expect(await jobOf(newer)).toMatchObject({ status: 'pending', locked_by: null });
    expect(await runStatus(newer)).toBe('queued');
    p.gated.releaseAll();
    // Not left in the queue for the next test's worker.
    await db.ownerPool.query('delete from workflow_runs where id = any($1)', [[older, newer]]);
  });

  it('once a claim has taken every due run, new runs are handed over again while those still run', async () => {
    const p = await oneProcess();
    // Three runs queued (by another process, say), then claimed by this worker: still running.
    const deps = engineDeps(db.pool);
    const queued: RunId[] = [];
    for (let i = 0; i < 3; i++)
      queued.push(
        (await startRun(deps, { tenantId: p.tenantId, workflowId: p.workflowId, input: { i } }))
          .runId,
      );
    p.worker.poke();
    await waitFor(() => p.gated.executor.calls.length === 3, { what: 'the claim of the three' });
    // That claim left nothing due: the next run is the worker's at once, not queued behind a
    // claim that only a freed slot or the next poll (a minute here) would make.
    const next = await p.start();
    expect(await jobOf(next)).toEqual({ status: 'running', locked_by: p.worker.id, attempt: 1 });
    await waitFor(() => p.gated.executor.calls.length === 4, { what: 'the new run' });
    p.gated.releaseAll();
    for (const runId of [...queued, next])
      await waitFor(async () => (await runStatus(runId)) === 'succeeded', { what: 'every run' });
  });

  it('queues a new run while its tenant is at its cap, and a claim runs it once a slot frees', async () => {
    const p = await oneProcess({ listen: true, config: { tenantMaxConcurrency: 1 } });
    const first = await p.start();
    await waitFor(() => p.gated.executor.calls.length === 1);
    const second = await p.start();
    expect(await jobOf(second)).toMatchObject({ status: 'pending', locked_by: null });
    await sleep(200);
    expect(p.gated.executor.calls).toHaveLength(1);
    p.gated.releaseAll();
    await waitFor(() => p.gated.executor.calls.length === 2, { what: 'the queued run' });
    p.gated.releaseAll();
    await waitFor(async () => (await runStatus(first)) === 'succeeded');
    await waitFor(async () => (await runStatus(second)) === 'succeeded');
    expect(p.gated.peak()).toBe(1);
  });

  it("another tenant's running steps do not count against a tenant's cap", async () => {
    // One process, two tenants, a cap of one running step per tenant.
    const tenants = await Promise.all(
      [0, 1].map(async () => {
        const { tenantId } = await makeTenant(db.pool);
        const actionId = await makeAction(db.pool, tenantId);
        const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId }]);
        return { tenantId, workflowId };
      }),
    );
    const deps = engineDeps(db.pool, { config: { pollMs: 60_000, tenantMaxConcurrency: 1 } });
    const gated = gatedExecutor();
    const worker = createWorker(deps, { executor: gated.executor, listenUrl: db.appUrl });
    workers.push(worker);
    worker.start();
    const intake = createRunIntake(deps);
    intake.handOffTo(worker.handOff);
    await sleep(300);
    const start = async (t: { tenantId: string; workflowId: string }) =>
      (await intake.start({ ...t, input: {} } as Parameters<typeof intake.start>[0])).runId;
    const a = await start(tenants[0]!);
    await waitFor(() => gated.executor.calls.length === 1, { what: "tenant A's run" });
    // Tenant A is at its cap; tenant B's run is still handed over, not queued behind A's.
    const b = await start(tenants[1]!);
    expect(await jobOf(b)).toEqual({ status: 'running', locked_by: worker.id, attempt: 1 });
    await waitFor(() => gated.executor.calls.length === 2, { what: "tenant B's run" });
    // And tenant A's next run waits for A's own slot.
    const a2 = await start(tenants[0]!);
    expect(await jobOf(a2)).toMatchObject({ status: 'pending', locked_by: null });
    gated.releaseAll();
    await waitFor(async () => (await runStatus(a)) === 'succeeded');
    await waitFor(async () => (await runStatus(b)) === 'succeeded');
    // A's queued run is claimed once A's own slot frees.
    await waitFor(() => gated.executor.calls.length === 3, { what: "tenant A's queued run" });
    gated.releaseAll();
    await waitFor(async () => (await runStatus(a2)) === 'succeeded');
  });

  it('a burst beyond the free slots and the cap: some runs handed over, the rest queued, every one run', async () => {
    const { tenantId } = await makeTenant(db.pool);
    const actionId = await makeAction(db.pool, tenantId);
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId }]);
    // The tenant's cap below the worker's slots: a claim takes fewer jobs than it has slots
    // for while more are due, and the next slot to free must claim again, not wait for a poll.
    const deps = engineDeps(db.pool, {
      config: { pollMs: 60_000, workerConcurrency: 8, tenantMaxConcurrency: 3 },
    });
    const executor = scriptedExecutor(async () => {
      await sleep(2);
      return ok();
    });
    const worker = createWorker(deps, { executor, listenUrl: db.appUrl });
    workers.push(worker);
    worker.start();
    const intake = createRunIntake(deps);
    intake.handOffTo(worker.handOff);
    await sleep(300);
    const runIds: RunId[] = [];
    // 40 callers at a time, 1,200 runs: the queue fills and drains while runs keep coming.
    await Promise.all(
      Array.from({ length: 40 }, async (_, c) => {
        for (let i = 0; i < 30; i++)
          runIds.push((await intake.start({ tenantId, workflowId, input: { c, i } })).runId);
      }),
    );
    const done = async () =>
      (
        await db.ownerPool.query<{ n: number }>(
          `select count(*)::int as n from workflow_runs where id = any($1) and status = 'succeeded'`,
          [runIds],
        )
      ).rows[0]!.n;
    await waitFor(async () => (await done()) === 1_200, { timeoutMs: 30_000, what: 'every run' });
    // Each run's step ran once.
    expect(new Set(executor.calls.map((c) => c.context.runId)).size).toBe(1_200);
    expect(executor.calls).toHaveLength(1_200);
  });

  it("once the worker has run a workflow's first step, the intake starts it with each new run", async () => {
    const p = await oneProcess();
    // Keys out of jsonb's order: the step must see its input as a run read back would.
    const first = await p.start({ zz: 1, a: { y: 2, b: [1, 'x'] } });
    await waitFor(() => p.gated.executor.calls.length === 1, { what: 'the first run' });
    // The first run of the workflow: its attempt was started by the worker's preparation.
    expect(await firstAttemptOf(first)).toEqual({
      attempts: 1,
      by_intake: false,
      status: 'running',
    });
    p.gated.releaseAll();
    await waitFor(async () => (await runStatus(first)) === 'succeeded', { what: 'the first run' });

    const second = await p.start({ zz: 1, a: { y: 2, b: [1, 'x'] } });
    await waitFor(() => p.gated.executor.calls.length === 2, { what: 'the second run' });
    // Started by the intake's own transaction, once.
    expect(await firstAttemptOf(second)).toEqual({
      attempts: 1,
      by_intake: true,
      status: 'running',
    });
    // The step gets what a prepared attempt gets: the same request but for the run's own ids.
    const [a, b] = p.gated.executor.calls;
    const own = (r: typeof a) => ({
      ...r,
      context: { ...r!.context, runId: 'run', stepRunId: 'step', runStartedAt: 'at' },
    });
    expect(own(b)).toEqual(own(a));
    expect(Object.keys(b!.context.trigger as object)).toEqual(['a', 'zz']);
    const stored = (
      await db.ownerPool.query<{ id: string; created_at: Date }>(
        `select s.id, r.created_at from step_runs s join workflow_runs r on r.id = s.run_id
          where s.run_id = $1`,
        [second],
      )
    ).rows[0]!;
    expect(b!.context).toMatchObject({ runId: second, stepRunId: stored.id, attempt: 1 });
    expect(b!.context.runStartedAt).toEqual(stored.created_at);
    p.gated.releaseAll();
    await waitFor(async () => (await runStatus(second)) === 'succeeded', {
      what: 'the second run',
    });
    expect(await attemptsOf(second)).toEqual([{ status: 'succeeded', attempt: 1 }]);
  });

  it('a version published since the worker last started a run: the intake leaves its first step to the worker', async () => {
    const p = await oneProcess();
    await runToEnd(p);
    // Version 2: another first step (another id and action).
    const otherAction = await makeAction(db.pool, p.tenantId);
    await withTenant(db.pool, p.tenantId, async (c) => {
      const v = await c.query<{ id: string }>(
        `insert into workflow_versions (tenant_id, workflow_id, version, definition)
         values ($1, $2, 2, $3) returning id`,
        [
          p.tenantId,
          p.workflowId,
          JSON.stringify({ steps: [{ id: 'other', actionId: otherAction, input: {} }] }),
        ],
      );
      await c.query('update workflows set current_version_id = $2 where id = $1', [
        p.workflowId,
        v.rows[0]!.id,
      ]);
    });
    const second = await p.start();
    await waitFor(() => p.gated.executor.calls.length === 2, { what: 'the run of version 2' });
    expect(p.gated.executor.calls[1]!.step).toMatchObject({ id: 'other', actionId: otherAction });
    expect(await firstAttemptOf(second)).toEqual({
      attempts: 1,
      by_intake: false,
      status: 'running',
    });
    p.gated.releaseAll();
    await waitFor(async () => (await runStatus(second)) === 'succeeded');
    // The worker now knows version 2: the next run's step is started by the intake.
    const third = await p.start();
    await waitFor(() => p.gated.executor.calls.length === 3, { what: 'the third run' });
    expect(p.gated.executor.calls[2]!.step).toMatchObject({ id: 'other' });
    expect(await firstAttemptOf(third)).toEqual({
      attempts: 1,
      by_intake: true,
      status: 'running',
    });
    p.gated.releaseAll();
    await waitFor(async () => (await runStatus(third)) === 'succeeded');
  });

  it('a worker that stops as a started run reaches it gives it back with no attempt: another runs attempt 1', async () => {
    const p = await oneProcess();
    await runToEnd(p);
    // The worker begins to stop between the intake's commit and the hand-over.
    let stopped: Promise<void> | undefined;
    const intake = createRunIntake(engineDeps(db.pool, { config: { pollMs: 60_000 } }));
    intake.handOffTo({
      workerId: p.worker.handOff.workerId,
      reserve: (n) => p.worker.handOff.reserve(n),
      firstStart: (id) => p.worker.handOff.firstStart(id),
      adopt(jobs, held) {
        stopped = p.worker.stop();
        p.worker.handOff.adopt(jobs, held);
      },
    });
    const { runId } = await intake.start({
      tenantId: p.tenantId,
      workflowId: p.workflowId,
      input: {},
    });
    await stopped;
    await waitFor(async () => (await jobOf(runId))?.status === 'pending', { what: 'the job back' });
    expect(await jobOf(runId)).toEqual({ status: 'pending', locked_by: null, attempt: 0 });
    expect(await firstAttemptOf(runId)).toBeUndefined();
    expect(p.gated.executor.calls).toHaveLength(1);
    // Another worker runs it, as attempt 1.
    const other = createWorker(engineDeps(db.pool), { executor: p.gated.executor });
    workers.push(other);
    other.start();
    await waitFor(() => p.gated.executor.calls.length === 2, { what: 'the other worker' });
    expect(p.gated.executor.calls[1]!.context).toMatchObject({ runId, attempt: 1 });
    p.gated.releaseAll();
    await waitFor(async () => (await runStatus(runId)) === 'succeeded');
    expect(await attemptsOf(runId)).toEqual([{ status: 'succeeded', attempt: 1 }]);
  });

  it('a stopping worker takes no new run: it stays queued for another', async () => {
    const p = await oneProcess();
    await p.worker.stop();
    const runId = await p.start();
    expect(await jobOf(runId)).toMatchObject({ status: 'pending', locked_by: null, attempt: 0 });
    await sleep(200);
    expect(p.gated.executor.calls.filter((c) => c.context.runId === runId)).toEqual([]);
  });
});
