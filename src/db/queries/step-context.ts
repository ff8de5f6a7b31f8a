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
  /** The pinned version (immutable: a worker compiles its definition once, prepare.ts). */
  versionId: string;
  /** The pinned version's definition. */
  definition: unknown;
  /** `{{ error }}` after a goto / on the failure path (migration 0033), else null. */
  errorContext: unknown;
  /** How the run ends once its failure path is done (migration 0033), else null. */
  pendingEnd: unknown;
  /**
   * Version 2 only: the latest StepRun at the item's index — a wait claimed again decides
   * from it (resolved by a resumer, due, not yet due). Null for version 1 (not read).
   */
  latest: LatestStepRun | null;
  /** Outputs of the earlier steps whose last attempt succeeded, by step id. */
  outputs: Record<string, unknown>;
  /**
   * The action of the step at the item's index (with its app), or null when it is gone. Version
   * 1 only: a version-2 index is a pc of the compiled program (selectActionRows).
   */
  action: ActionRow | null;
};

export type LatestStepRun = {
  id: string;
  status: string;
  output: unknown;
  error_code: string | null;
  error_message: string | null;
  wait_until: string | null;
  started_at: string;
};

/**
 * The context of each item (a run and a step index), in the items' order; undefined where the
 * run does not exist.
 */
export async function selectStepContexts(
  db: Queryable,
  p: {
    tenantId: TenantId;
    /**
     * `itemIndex`: a forEach item's job (migration 0031): it sees the main path's outputs and
     * its own item's, never another item's; absent or null: the run's main job.
     */
    items: { runId: RunId; stepIndex: number; itemIndex?: number | null }[];
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
    version_id: string;
    definition: unknown;
    error_context: unknown;
    pending_end: unknown;
    latest: LatestStepRun | null;
    outputs: Record<string, unknown>;
    action: ActionRow | null;
  }>({
    name: 'sy_select_step_contexts',
    text: `select i.ord::int as ord, r.workflow_id, r.status, r.input, r.trace_context,
            r.origin_run_id, r.created_at, r.is_test,
            jsonb_array_length(coalesce(v.definition->'steps', '[]')) as step_count,
            v.id as version_id, v.definition, r.error_context, r.pending_end,
            case when v.definition->>'version' = '2' then (
              select jsonb_build_object('id', s.id, 'status', s.status, 'output', s.output,
                       'error_code', s.error_code, 'error_message', s.error_message,
                       'wait_until', s.wait_until, 'started_at', s.started_at)
                from step_runs s
               where s.tenant_id = r.tenant_id and s.run_id = r.id and s.step_index = i.step_index
                 and coalesce(s.item_index, -1) = i.path
               order by s.attempt desc limit 1) end as latest,
            coalesce((select jsonb_object_agg(s.step_id, s.output) from (
                select distinct on (step_id) step_id, output, status from step_runs
                 where tenant_id = r.tenant_id and run_id = r.id and step_index < i.step_index
                   -- The path (0031's step_runs_path_idx): the main one (-1), and an item's own.
                   and coalesce(item_index, -1) in (-1, i.path)
                 order by step_id, attempt desc) s
               where s.status = 'succeeded'), '{}') as outputs,
            (select ${ACTION_ROW_JSON}
                 where a.tenant_id = r.tenant_id
                   and (v.definition->>'version' = '2') is not true
                   and a.id = case when v.definition->'steps'->i.step_index->>'actionId'
                                        ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                   then (v.definition->'steps'->i.step_index->>'actionId')::uuid end
              ) x) as action,
            ${relaxCommitIf('$4')} as relaxed
       from (select u.*, coalesce(u.item_index, -1) as path
               from unnest($2::uuid[], $3::int[], $5::int[]) with ordinality
                 as u(run_id, step_index, item_index, ord)) i
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
      p.items.map((i) => i.itemIndex ?? null),
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
      versionId: r.version_id,
      definition: r.definition,
      errorContext: r.error_context,
      pendingEnd: r.pending_end,
      latest: r.latest,
      outputs: r.outputs,
      action: r.action,
    };
  }
  return out;
}

/** Actions (with their apps) by id: a version-2 claim's actions (the program says which). */
export async function selectActionRows(
  db: Queryable,
  p: { tenantId: TenantId; actionIds: string[] },
): Promise<Map<string, ActionRow>> {
  const res = await db.query<{ action: ActionRow }>({
    name: 'sy_select_action_rows',
    text: `select (select ${ACTION_ROW_JSON} where a.tenant_id = $1 and a.id = i.id) x) as action
       from unnest($2::uuid[]) as i(id)`,
    values: [p.tenantId, p.actionIds],
  });
  const out = new Map<string, ActionRow>();
  for (const r of res.rows) if (r.action) out.set(r.action.id, r.action);
  return out;
}
