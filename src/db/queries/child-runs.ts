/**
 * Child runs (callWorkflow, definition version 2): a child names its parent and the parent's
 * step, and the parent's StepRun names its child, written in the transaction that starts the
 * child — before the child can end, whose trigger (migration 0032) finds the parent's step
 * through `child_run_id`.
 */
import type { Queryable } from '../pool.ts';
import type { RunId, StepRunId, TenantId } from '../../model/ids.ts';

/**
 * Links a child run to its parent's step: the child's `parent_run_id/parent_step_index` (a
 * parent's cancel reaches it), and with `wait` the StepRun's `child_run_id` (the child's end
 * resolves it), while that attempt is still `running`. False when the StepRun is no longer
 * running (its claim went stale meanwhile). Without `wait` the step's output names the child
 * and its end resolves nothing.
 */
export async function linkChildRun(
  db: Queryable,
  p: {
    tenantId: TenantId;
    childRunId: RunId;
    parentRunId: RunId;
    parentStepIndex: number;
    stepRunId: StepRunId;
    wait: boolean;
  },
): Promise<boolean> {
  const res = await db.query<{ linked: number }>({
    name: 'sy_link_child_run',
    text: `with child as (
       update workflow_runs set parent_run_id = $3, parent_step_index = $4
        where tenant_id = $1 and id = $2
       returning id
     ),
     step as (
       update step_runs set child_run_id = case when $6::bool then $2::uuid end
        where tenant_id = $1 and id = $5 and run_id = $3 and status = 'running'
       returning id
     )
     select (select count(*) from child)::int + (select count(*) from step)::int as linked`,
    values: [p.tenantId, p.childRunId, p.parentRunId, p.parentStepIndex, p.stepRunId, p.wait],
  });
  return res.rows[0]!.linked === 2;
}

export type ChildRunRow = { id: RunId; status: string; output: unknown; error: unknown };

/** A child run's end as the parent's step sees it (null: gone, e.g. retention). */
export async function selectChildRun(
  db: Queryable,
  p: { tenantId: TenantId; childRunId: RunId },
): Promise<ChildRunRow | null> {
  const res = await db.query<ChildRunRow>(
    `select id, status, output, error from workflow_runs where tenant_id = $1 and id = $2`,
    [p.tenantId, p.childRunId],
  );
  return res.rows[0] ?? null;
}

/** The child run a waiting StepRun names, with its end (null: none, or gone). */
export async function selectChildOfStep(
  db: Queryable,
  p: { tenantId: TenantId; stepRunId: string },
): Promise<(ChildRunRow & { created_at: Date }) | null> {
  const res = await db.query<ChildRunRow & { created_at: Date }>(
    `select r.id, r.status, r.output, r.error, r.created_at
       from step_runs s join workflow_runs r on r.tenant_id = s.tenant_id and r.id = s.child_run_id
      where s.tenant_id = $1 and s.id = $2`,
    [p.tenantId, p.stepRunId],
  );
  return res.rows[0] ?? null;
}

/**
 * How many runs of calls lead to `runId` (0: it was not started by a call), counted up to
 * `cap` along `parent_run_id`.
 */
export async function selectCallDepth(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId; cap: number },
): Promise<number> {
  const res = await db.query<{ depth: number }>({
    name: 'sy_select_call_depth',
    text: `with recursive chain(id, depth) as (
       select parent_run_id, 0 from workflow_runs where tenant_id = $1 and id = $2
       union all
       select r.parent_run_id, c.depth + 1
         from chain c join workflow_runs r on r.tenant_id = $1 and r.id = c.id
        where c.depth < $3
     )
     select coalesce(max(depth) filter (where id is not null), -1)::int + 1 as depth from chain`,
    values: [p.tenantId, p.runId, p.cap],
  });
  return res.rows[0]?.depth ?? 0;
}
