/**
 * What the engine reads to start steps: for claimed jobs of one tenant, the run, its pinned
 * version's steps, the earlier outputs and the step's action, all in one statement.
 */
import type { Queryable } from '../pool.ts';
import type { RunId, TenantId, WorkflowId } from '../../model/ids.ts';
import { relaxCommitIf } from './jobs.ts';
import type { ActionRow, RunStatus } from './workflow-runs.ts';

/**
 * The columns of an action (with its app) as one jsonb value, from `actions a join apps ap`:
 * shared by every statement that hands the engine an ActionRow.
 */
export const ACTION_ROW_JSON = `to_jsonb(x) from (
    select a.id, a.app_id, ap.key as app_key, a.key, a.kind, a.input_schema, a.output_schema,
           a.implementation, ap.base_url, a.retry_strategy, a.max_attempts, a.initial_delay_ms,
           a.max_delay_ms, a.timeout_ms, a.rate_limit_requests, a.rate_limit_per_seconds
      from actions a join apps ap on ap.tenant_id = a.tenant_id and ap.id = a.app_id`;

export type RunStepContext = {
  workflowId: WorkflowId;
  status: RunStatus;
  input: unknown;
  traceContext: string | null;
  /** A replay's original run (outgoing idempotency keys); null for a run that is not one. */
  originRunId: RunId | null;
  createdAt: Date;
  /** A test run (testWorkflow): not in metrics, no dead letter, no retries. */
  isTest: boolean;
  stepCount: number;
  /**
   * `definition.steps` of the pinned version. Versions are immutable, so a worker keeps them
   * for the run's next steps instead of reading them again.
   */
  steps: unknown;
  /** Outputs of the earlier steps whose last attempt succeeded, by step id. */
  outputs: Record<string, unknown>;
  /** The action of the step at the item's index (with its app), or null when it is gone. */
  action: ActionRow | null;
};

/**
 * The context of each item (a run and a step index), in the items' order; undefined where the
 * run does not exist.
 */
export async function selectStepContexts(
  db: Queryable,
  p: {
    tenantId: TenantId;
    items: { runId: RunId; stepIndex: number }[];
    /** Commit without waiting for the WAL flush (relaxCommitIf in jobs.ts). */
    relaxDurability: boolean;
  },
): Promise<(RunStepContext | undefined)[]> {
  const res = await db.query<{
    ord: number;
    workflow_id: WorkflowId;
    status: RunStatus;
    input: unknown;
    trace_context: string | null;
    origin_run_id: RunId | null;
    created_at: Date;
    is_test: boolean;
    step_count: number;
    steps: unknown;
    outputs: Record<string, unknown>;
    action: ActionRow | null;
  }>({
    name: 'sy_select_step_contexts',
    text: `select i.ord::int as ord, r.workflow_id, r.status, r.input, r.trace_context,
            r.origin_run_id, r.created_at, r.is_test,
            jsonb_array_length(coalesce(v.definition->'steps', '[]')) as step_count,
            v.definition->'steps' as steps,
            coalesce((select jsonb_object_agg(s.step_id, s.output) from (
                select distinct on (step_id) step_id, output, status from step_runs
                 where tenant_id = r.tenant_id and run_id = r.id and step_index < i.step_index
                 order by step_id, attempt desc) s
               where s.status = 'succeeded'), '{}') as outputs,
            (select ${ACTION_ROW_JSON}
                 where a.tenant_id = r.tenant_id
                   and a.id = case when v.definition->'steps'->i.step_index->>'actionId'
                                        ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                   then (v.definition->'steps'->i.step_index->>'actionId')::uuid end
              ) x) as action,
            ${relaxCommitIf('$4')} as relaxed
       from unnest($2::uuid[], $3::int[]) with ordinality as i(run_id, step_index, ord)
       -- One lookup by primary key per item, planned alone (offset 0 keeps the planner from
       -- joining runs some other way on statistics that may still describe empty tables).
       cross join lateral (
         select * from workflow_runs r where r.tenant_id = $1 and r.id = i.run_id offset 0
       ) r
       join workflow_versions v on v.tenant_id = r.tenant_id and v.id = r.workflow_version_id`,
    values: [
      p.tenantId,
      p.items.map((i) => i.runId),
      p.items.map((i) => i.stepIndex),
      p.relaxDurability,
    ],
  });
  const out: (RunStepContext | undefined)[] = p.items.map(() => undefined);
  for (const r of res.rows) {
    out[r.ord - 1] = {
      workflowId: r.workflow_id,
      status: r.status,
      input: r.input,
      traceContext: r.trace_context,
      originRunId: r.origin_run_id,
      createdAt: r.created_at,
      isTest: r.is_test,
      stepCount: r.step_count,
      steps: r.steps,
      outputs: r.outputs,
      action: r.action,
    };
  }
  return out;
}
