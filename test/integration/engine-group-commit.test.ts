/**
 * Group commit on the worker's hot path (src/engine/group-commit.ts): claimed steps prepared
 * together, outcomes of many slots recorded together. Each item keeps its own guard and answer:
 * what arrives together shares a few transactions, a stale claim in a batch is refused while
 * the others commit, and an item the database refuses does not cost the others their step.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimJobs, type ClaimedJob } from '../../src/db/queries/jobs.ts';
import { withSystem } from '../../src/db/tenant.ts';
import type { Outcome } from '../../src/engine/outcome.ts';
import { StaleClaim } from '../../src/engine/outcome.ts';
import { createPreparer, type Prepared, type WorkerDeps } from '../../src/engine/prepare.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { createTransitions } from '../../src/engine/transitions.ts';
import type { TenantId, WorkflowId } from '../../src/model/ids.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** The test database's pool, counting checkouts: one per transaction of withTenant/withSystem. */
function countingPool(pool: pg.Pool): { pool: pg.Pool; checkouts: () => number } {
  let n = 0;
  const counted = new Proxy(pool, {
    get(target, key) {
      if (key === 'connect') {
        return () => {
          n++;
          return target.connect();
        };
      }
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { pool: counted, checkouts: () => n };
}

async function setup(steps: number, runs: number) {
  const tenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId);
  const { workflowId } = await makeWorkflow(
    db.pool,
    tenantId,
    Array.from({ length: steps }, (_, i) => ({ id: `s${i}`, actionId })),
  );
  const counting = countingPool(db.pool);
  const workerId = `w-${Math.random().toString(36).slice(2, 8)}`;
  const deps: WorkerDeps = {
    ...engineDeps(counting.pool, { config: { workerConcurrency: 64 } }),
    workerId,
  };
  const runIds = [];
  for (let i = 0; i < runs; i++)
    runIds.push((await startRun(deps, { tenantId, workflowId, input: { i } })).runId);
  const claimed = await claim(deps, tenantId, runs);
  return { tenantId, workflowId, deps, runIds, claimed, checkouts: counting.checkouts };
}

async function claim(deps: WorkerDeps, tenantId: TenantId, limit: number) {
  const jobs = await withSystem(db.pool, (c) =>
    claimJobs(c, {
      now: deps.clock.now(),
      workerId: deps.workerId,
      limit,
      leaseMs: 60_000,
      tenantMaxConcurrency: 1_000,
    }),
  );
  return jobs.filter((j) => j.tenantId === tenantId);
}

const executeOf = (p: Prepared) => {
  if (p.kind !== 'execute') throw new Error(`expected an attempt to execute, got ${p.kind}`);
  return p;
};

const succeeded = (output: unknown): Outcome => ({ kind: 'succeeded', input: {}, output });

const runStatuses = async (workflowId: WorkflowId) =>
  (
    await db.ownerPool.query<{ status: string; n: number }>(
      'select status, count(*)::int n from workflow_runs where workflow_id = $1 group by 1',
      [workflowId],
    )
  ).rows;

describe('group commit', () => {
  it('claimed steps are prepared together, and outcomes arriving together share transactions', async () => {
    const { deps, claimed, checkouts, workflowId } = await setup(2, 40);
    expect(claimed).toHaveLength(40);
    const preparer = createPreparer(deps);
    let before = checkouts();
    const first = (await Promise.all(claimed.map((j) => preparer.submit(j.tenantId, j)))).map(
      executeOf,
    );
    expect(checkouts() - before).toBe(1); // one transaction prepared all 40
    expect(first.every((p) => p.plan.stepIndex === 0 && p.plan.stepRunId !== null)).toBe(true);
    expect(await runStatuses(workflowId)).toEqual([{ status: 'running', n: 40 }]);

    const transitions = createTransitions(deps);
    before = checkouts();
    const next = await Promise.all(
      first.map((p, i) => transitions.record(p.plan, succeeded({ i }), p.run)),
    );
    expect(checkouts() - before).toBeLessThanOrEqual(2);
    const second = next.map((c) => executeOf(c!.prepared!));
    // The next step was started in the same statement, with what it needs.
    expect(second.every((p) => p.plan.stepIndex === 1 && p.plan.attempt === 1)).toBe(true);
    expect(second.map((p) => p.request.context.steps.s0?.output)).toEqual(
      first.map((_, i) => ({ i })),
    );

    before = checkouts();
    const done = await Promise.all(
      second.map((p) => transitions.record(p.plan, succeeded('end'), p.run)),
    );
    expect(checkouts() - before).toBeLessThanOrEqual(2);
    expect(done.every((c) => c === null)).toBe(true);
    expect(await runStatuses(workflowId)).toEqual([{ status: 'succeeded', n: 40 }]);
    const steps = await db.ownerPool.query<{ step_id: string; n: number }>(
      `select s.step_id, count(*)::int n from step_runs s join workflow_runs r on r.id = s.run_id
        where r.workflow_id = $1 and s.status = 'succeeded' and s.attempt = 1 group by 1 order by 1`,
      [workflowId],
    );
    expect(steps.rows).toEqual([
      { step_id: 's0', n: 40 },
      { step_id: 's1', n: 40 },
    ]);
    const left = await db.ownerPool.query(
      'select 1 from jobs j join workflow_runs r on r.id = j.run_id where r.workflow_id = $1',
      [workflowId],
    );
    expect(left.rowCount).toBe(0);
  });

  it('a stale claim in a batch is refused; the other items commit', async () => {
    const { deps, claimed } = await setup(1, 10);
    const prepared = await prepareAll(deps, claimed);
    const victim = prepared[3]!;
    // Another worker claimed the job meanwhile (its lease had expired): the next attempt.
    await db.ownerPool.query(
      `update jobs set locked_by = 'thief', attempt = attempt + 1 where id = $1`,
      [victim.plan.jobId],
    );
    const transitions = createTransitions(deps);
    const answers = await Promise.allSettled(
      prepared.map((p) => transitions.record(p.plan, succeeded(1), p.run)),
    );
    expect(answers.map((a) => a.status)).toEqual(
      prepared.map((_, i) => (i === 3 ? 'rejected' : 'fulfilled')),
    );
    expect((answers[3] as PromiseRejectedResult).reason).toBeInstanceOf(StaleClaim);
    const runs = await db.ownerPool.query<{ id: string; status: string }>(
      'select id, status from workflow_runs where id = any($1)',
      [prepared.map((p) => p.plan.runId)],
    );
    const status = new Map(runs.rows.map((r) => [r.id, r.status]));
    for (const [i, p] of prepared.entries())
      expect(status.get(p.plan.runId)).toBe(i === 3 ? 'running' : 'succeeded');
    // Nothing of the stale item was written: its attempt is still running, its job the thief's.
    const step = await db.ownerPool.query('select status from step_runs where id = $1', [
      victim.plan.stepRunId,
    ]);
    expect(step.rows).toEqual([{ status: 'running' }]);
    const job = await db.ownerPool.query('select locked_by, attempt from jobs where id = $1', [
      victim.plan.jobId,
    ]);
    expect(job.rows).toEqual([{ locked_by: 'thief', attempt: 2 }]);
  });

  it('an item the database refuses fails alone; the rest of its batch commits', async () => {
    const { deps, claimed } = await setup(2, 10);
    const prepared = await prepareAll(deps, claimed);
    const transitions = createTransitions(deps);
    // PostgreSQL cannot store \u0000 in jsonb: the batch statement fails, then each item is
    // recorded alone.
    const answers = await Promise.allSettled(
      prepared.map((p, i) =>
        transitions.record(p.plan, succeeded(i === 6 ? { bad: 'a\u0000b' } : { i }), p.run),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(
      prepared.map((_, i) => (i === 6 ? 'rejected' : 'fulfilled')),
    );
    for (const [i, a] of answers.entries()) {
      if (i === 6 || a.status !== 'fulfilled') continue;
      expect(a.value?.prepared?.kind).toBe('execute');
    }
    const steps = await db.ownerPool.query<{ run_id: string; step_id: string; status: string }>(
      'select run_id, step_id, status from step_runs where run_id = any($1) order by step_index',
      [prepared.map((p) => p.plan.runId)],
    );
    for (const [i, p] of prepared.entries()) {
      const mine = steps.rows.filter((s) => s.run_id === p.plan.runId);
      expect(mine.map((s) => [s.step_id, s.status])).toEqual(
        i === 6
          ? [['s0', 'running']]
          : [
              ['s0', 'succeeded'],
              ['s1', 'running'],
            ],
      );
    }
  });
});

async function prepareAll(deps: WorkerDeps, jobs: ClaimedJob[]) {
  const preparer = createPreparer(deps);
  return (await Promise.all(jobs.map((j) => preparer.submit(j.tenantId, j)))).map(executeOf);
}
