/**
 * Child runs at the database's level (migration 0032, engine/child-runs.ts): starting a child
 * twice for the same parent step gives the same child (a retried call step); the child's end
 * resolves the parent's waiting StepRun — output, or E_CHILD_RUN_FAILED with the child's error —
 * and makes the parent's job due now, in the child's finishing statement; a parent's cancel
 * cancels its unfinished children and theirs, deleting their jobs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultEngineConfig } from '../../src/config/engine.ts';
import { withTenant } from '../../src/db/tenant.ts';
import { createEngine } from '../../src/engine/engine.ts';
import { startChildRun } from '../../src/engine/child-runs.ts';
import { systemClock } from '../../src/engine/deps.ts';
import type { RunId, StepRunId, TenantId, WorkflowId } from '../../src/model/ids.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let tenantId: TenantId;
let workflowId: WorkflowId;
let engine: ReturnType<typeof createEngine>;
const deps = { clock: systemClock, config: defaultEngineConfig() };

beforeAll(async () => {
  db = await createTestDatabase();
  engine = createEngine({ pool: db.pool, logger: testLogger, config: deps.config });
  tenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId);
  workflowId = (await makeWorkflow(db.pool, tenantId, [{ id: 'only', actionId }])).workflowId;
});
afterAll(async () => {
  await db.drop();
});

/** A run at its call step (pc 1), its StepRun `running` as a worker's attempt leaves it. */
async function parentAtCall(): Promise<{ runId: RunId; stepRunId: StepRunId }> {
  const { runId } = await engine.startRun({ tenantId, workflowId, input: {} });
  await db.ownerPool.query(
    `update jobs set step_index = 1, status = 'running', locked_by = 'w', attempt = 1 where run_id = $1`,
    [runId],
  );
  await db.ownerPool.query(`update workflow_runs set status = 'running' where id = $1`, [runId]);
  const s = await db.ownerPool.query<{ id: StepRunId }>(
    `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, started_at)
     values ($1, $2, 'call', 1, 1, 'running', now()) returning id`,
    [tenantId, runId],
  );
  return { runId, stepRunId: s.rows[0]!.id };
}

/** What the engine's wait transition does: the StepRun waits, the job is pending for 30 days. */
async function recordWait(runId: RunId) {
  await db.ownerPool.query(
    `update step_runs set status = 'waiting', wait_until = now() + interval '30 days' where run_id = $1 and step_id = 'call'`,
    [runId],
  );
  await db.ownerPool.query(
    `update jobs set status = 'waiting', locked_by = null, run_at = now() + interval '30 days' where run_id = $1`,
    [runId],
  );
  await db.ownerPool.query(`update workflow_runs set status = 'waiting' where id = $1`, [runId]);
}

const start = (p: { runId: RunId; stepRunId: StepRunId }, wait = true) =>
  withTenant(db.pool, tenantId, (c) =>
    startChildRun(c, deps, {
      tenantId,
      workflowId,
      input: { from: 'parent' },
      parentRunId: p.runId,
      parentStepIndex: 1,
      stepId: 'call',
      itemIndex: null,
      stepRunId: p.stepRunId,
      wait,
      traceparent: null,
    }),
  );

async function row(sql: string, id: string) {
  return (await db.ownerPool.query(sql, [id])).rows[0] as Record<string, unknown>;
}

describe('child runs', () => {
  it('a retried call step gets its first child back', async () => {
    const parent = await parentAtCall();
    const first = await start(parent);
    const again = await start(parent);
    expect(again).toEqual({ childRunId: first.childRunId, duplicate: true, ended: null });
    expect(
      await row(
        `select parent_run_id, parent_step_index, input from workflow_runs where id = $1`,
        first.childRunId,
      ),
    ).toEqual({ parent_run_id: parent.runId, parent_step_index: 1, input: { from: 'parent' } });
    expect(await row(`select child_run_id from step_runs where id = $1`, parent.stepRunId)).toEqual(
      {
        child_run_id: first.childRunId,
      },
    );
  });

  it("the child's success resolves the parent's wait with its output and wakes the parent", async () => {
    const parent = await parentAtCall();
    const { childRunId } = await start(parent);
    await recordWait(parent.runId);
    await db.ownerPool.query(
      `update workflow_runs set status = 'succeeded', output = '{"answer": 42}', finished_at = now() where id = $1`,
      [childRunId],
    );
    expect(
      await row(`select status, output, error_code from step_runs where id = $1`, parent.stepRunId),
    ).toEqual({
      status: 'succeeded',
      output: { answer: 42 },
      error_code: null,
    });
    const job = await row(
      `select (status = 'pending' and run_at <= now()) as due from jobs where run_id = $1`,
      parent.runId,
    );
    expect(job.due).toBe(true);
  });

  it("the child's failure fails the parent's step with E_CHILD_RUN_FAILED, even before its wait is recorded", async () => {
    const parent = await parentAtCall();
    const { childRunId } = await start(parent);
    // The child is that fast: it ends while the parent's StepRun is still `running`.
    await db.ownerPool.query(
      `update workflow_runs set status = 'dead', finished_at = now(),
              error = '{"code": "E_HTTP_STATUS", "message": "upstream said 500"}' where id = $1`,
      [childRunId],
    );
    const s = await row(
      `select status, error_code, error_message, wait_until is not null as waited
         from step_runs where id = $1`,
      parent.stepRunId,
    );
    expect(s.status).toBe('failed');
    // Marked as a wait (0037): the claim at the step takes it as the wait's outcome.
    expect(s.waited).toBe(true);
    expect(s.error_code).toBe('E_CHILD_RUN_FAILED');
    expect(s.error_message).toContain('E_HTTP_STATUS upstream said 500');
    expect(s.error_message).toContain(childRunId);
  });

  it('without wait, the child is linked to the parent (cancel) but its end resolves nothing', async () => {
    const parent = await parentAtCall();
    const { childRunId } = await start(parent, false);
    await db.ownerPool.query(`update workflow_runs set status = 'succeeded' where id = $1`, [
      childRunId,
    ]);
    expect(
      await row(`select status, child_run_id from step_runs where id = $1`, parent.stepRunId),
    ).toEqual({
      status: 'running',
      child_run_id: null,
    });
  });

  it('canceling the parent cancels its unfinished children and theirs, and deletes their jobs', async () => {
    const parent = await parentAtCall();
    const { childRunId } = await start(parent);
    await recordWait(parent.runId);
    // The child is itself at a call step with a child of its own (a grandchild).
    await db.ownerPool.query(
      `update jobs set step_index = 1, status = 'running', locked_by = 'w', attempt = 1 where run_id = $1`,
      [childRunId],
    );
    await db.ownerPool.query(`update workflow_runs set status = 'running' where id = $1`, [
      childRunId,
    ]);
    const cs = await db.ownerPool.query<{ id: StepRunId }>(
      `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, started_at)
       values ($1, $2, 'call', 1, 1, 'running', now()) returning id`,
      [tenantId, childRunId],
    );
    const grand = await start({ runId: childRunId, stepRunId: cs.rows[0]!.id });
    // The parent is `waiting` (recordWait): its cancel reaches the running child and grandchild.
    await engine.cancelRun({
      tenantId,
      runId: parent.runId,
      actor: { kind: 'system', id: 'test' },
    });
    const runs = await db.ownerPool.query<{
      id: string;
      status: string;
      error: { message: string };
    }>(`select id, status, error from workflow_runs where id = any($1::uuid[])`, [
      [parent.runId, childRunId, grand.childRunId],
    ]);
    expect(new Set(runs.rows.map((r) => r.status))).toEqual(new Set(['canceled']));
    expect(runs.rows.find((r) => r.id === grand.childRunId)?.error.message).toContain(childRunId);
    const jobs = await db.ownerPool.query(`select 1 from jobs where run_id = any($1::uuid[])`, [
      [childRunId, grand.childRunId],
    ]);
    expect(jobs.rowCount).toBe(0);
    expect(await row(`select status from step_runs where id = $1`, parent.stepRunId)).toEqual({
      status: 'canceled',
    });
    expect(await row(`select status from step_runs where id = $1`, cs.rows[0]!.id)).toEqual({
      status: 'canceled',
    });
  });
});
