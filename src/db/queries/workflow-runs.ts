import type { Queryable } from '../pool.ts';
import type { RunId, TenantId, TriggerId, WorkflowId, WorkflowVersionId } from '../../model/ids.ts';
import { CANCEL_CHANNEL, JOBS_CHANNEL } from './jobs.ts';
import { qb, run } from '../sql.ts';

export type RunStatus =
  | 'queued'
  | 'running'
  /** Version 2: at a wait (delay, waitUntil, waitForEvent, a child run), holding no worker. */
  | 'waiting'
  | 'succeeded'
  | 'failed'
  | 'canceled'
  | 'dead';

export type RunRow = {
  tenantId: TenantId;
  id: RunId;
  workflowId: WorkflowId;
  workflowVersionId: WorkflowVersionId;
  triggerId: TriggerId | null;
  idempotencyKey: string | null;
  input: unknown;
  status: RunStatus;
  output: unknown;
  error: unknown;
  traceContext: string | null;
  replayOfRunId: RunId | null;
  /** A replay's original run (the first of its replay chain); null for a run that is not one. */
  originRunId: RunId | null;
  /** A test run of a draft (testWorkflow): hidden from the default list, purged early. */
  isTest: boolean;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
};

type RawRun = {
  tenant_id: TenantId;
  id: RunId;
  workflow_id: WorkflowId;
  workflow_version_id: WorkflowVersionId;
  trigger_id: TriggerId | null;
  idempotency_key: string | null;
  input: unknown;
  status: RunStatus;
  output: unknown;
  error: unknown;
  trace_context: string | null;
  replay_of_run_id: RunId | null;
  origin_run_id: RunId | null;
  is_test: boolean;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
};

const toRun = (r: RawRun): RunRow => ({
  tenantId: r.tenant_id,
  id: r.id,
  workflowId: r.workflow_id,
  workflowVersionId: r.workflow_version_id,
  triggerId: r.trigger_id,
  idempotencyKey: r.idempotency_key,
  input: r.input,
  status: r.status,
  output: r.output,
  error: r.error,
  traceContext: r.trace_context,
  replayOfRunId: r.replay_of_run_id,
  originRunId: r.origin_run_id,
  isTest: r.is_test,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

/**
 * Creates a run and the job of its first step in one statement, and wakes the workers at
 * commit. The run pins the workflow's current version, or `versionId` (a replay keeps the
 * version of the run it replays). No row: the workflow does not exist or is not published.
 */
export async function insertRunWithJob(
  db: Queryable,
  p: {
    tenantId: TenantId;
    runId: RunId;
    workflowId: WorkflowId;
    versionId: WorkflowVersionId | null;
    triggerId: TriggerId | null;
    idempotencyKey: string | null;
    inputHash: Buffer | null;
    input: unknown;
    traceContext: string | null;
    replayOfRunId: RunId | null;
    /** A replay's original run (its outgoing idempotency keys); absent for a new run. */
    originRunId?: RunId | null;
    firstStepIndex: number;
    now: Date;
  },
): Promise<{ runId: RunId; workflowVersionId: WorkflowVersionId } | undefined> {
  const res = await db.query<{ id: RunId; workflow_version_id: WorkflowVersionId }>({
    name: 'sy_insert_run_with_job',
    text: `with wf as (
       select tenant_id, id, coalesce($4::uuid, current_version_id) as version_id
         from workflows
        where tenant_id = $1 and id = $3
          and ($4::uuid is not null or (current_version_id is not null and archived_at is null))
     ),
     run as (
       insert into workflow_runs (tenant_id, id, workflow_id, workflow_version_id, trigger_id,
         idempotency_key, input_hash, input, trace_context, replay_of_run_id, origin_run_id,
         created_at)
       select wf.tenant_id, $2, wf.id, wf.version_id, $5, $6, $7, $8, $9, $10, $13, $12 from wf
       returning tenant_id, id, workflow_version_id
     ),
     job as (
       insert into jobs (tenant_id, run_id, step_index, run_at, created_at)
       select tenant_id, id, $11, $12, $12 from run
       returning id
     )
     select run.id, run.workflow_version_id, (select count(*) from job) as jobs,
            pg_notify('${JOBS_CHANNEL}', '') as notified
       from run`,
    values: [
      p.tenantId,
      p.runId,
      p.workflowId,
      p.versionId,
      p.triggerId,
      p.idempotencyKey,
      p.inputHash,
      JSON.stringify(p.input ?? {}),
      p.traceContext,
      p.replayOfRunId,
      p.firstStepIndex,
      p.now,
      p.originRunId ?? null,
    ],
  });
  const row = res.rows[0];
  return row && { runId: row.id, workflowVersionId: row.workflow_version_id };
}

export async function selectRun(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId },
): Promise<RunRow | undefined> {
  const res = await db.query<RawRun>(
    `select tenant_id, id, workflow_id, workflow_version_id, trigger_id, idempotency_key, input,
            status, output, error, trace_context, replay_of_run_id, origin_run_id, is_test,
            created_at, started_at, finished_at
       from workflow_runs where tenant_id = $1 and id = $2`,
    [p.tenantId, p.runId],
  );
  const row = res.rows[0];
  return row && toRun(row);
}

export type ActionRow = {
  id: string;
  app_id: string;
  app_key: string;
  key: string;
  kind: string;
  input_schema: unknown;
  output_schema: unknown;
  implementation: unknown;
  base_url: string | null;
  retry_strategy: string;
  max_attempts: number;
  initial_delay_ms: number;
  max_delay_ms: number;
  timeout_ms: number;
  rate_limit_requests: number | null;
  rate_limit_per_seconds: number | null;
};

/** Gives a queued, running or waiting run its final status; false when it was already final. */
export async function finishRun(
  db: Queryable,
  p: {
    tenantId: TenantId;
    runId: RunId;
    status: 'succeeded' | 'failed' | 'dead';
    output: unknown;
    error: unknown;
    now: Date;
  },
): Promise<boolean> {
  const res = await db.query({
    name: 'sy_finish_run',
    text: `update workflow_runs
        set status = $3, output = $4, error = $5, finished_at = $6,
            started_at = coalesce(started_at, $6)
      where tenant_id = $1 and id = $2 and status in ('queued', 'running', 'waiting')`,
    values: [
      p.tenantId,
      p.runId,
      p.status,
      p.output === undefined ? null : JSON.stringify(p.output),
      p.error === undefined ? null : JSON.stringify(p.error),
      p.now,
    ],
  });
  return res.rowCount === 1;
}

/**
 * Cancels a queued, running or waiting run in one statement: the run becomes `canceled`, its
 * job is deleted (a queued step never starts), a running attempt (or a waiting step) is marked
 * canceled, and the worker holding the job is told at commit (it aborts the step; its late
 * writes are refused because the job is gone). Returns whether the run was cancelable.
 */
export async function cancelRun(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId; now: Date; error: unknown },
): Promise<boolean> {
  const res = await db.query<{ canceled: number }>(
    `with r as (
       update workflow_runs set status = 'canceled', finished_at = $3, error = $4
        where tenant_id = $1 and id = $2 and status in ('queued', 'running', 'waiting')
       returning tenant_id, id
     ),
     j as (
       delete from jobs using r where jobs.tenant_id = r.tenant_id and jobs.run_id = r.id
       returning jobs.id, jobs.locked_by
     ),
     s as (
       update step_runs set status = 'canceled', finished_at = $3, error_code = 'E_RUN_CANCELED',
              error_message = 'The run was canceled.', error_retryable = false
         from r
        where step_runs.tenant_id = r.tenant_id and step_runs.run_id = r.id
          and step_runs.status in ('running', 'waiting')
       returning 1
     ),
     n as (
       select pg_notify('${CANCEL_CHANNEL}', j.id::text) from j where j.locked_by is not null
     )
     select (select count(*) from r)::int as canceled, (select count(*) from n) as notified,
            (select count(*) from s) as steps`,
    [p.tenantId, p.runId, p.now, JSON.stringify(p.error)],
  );
  return (res.rows[0]?.canceled ?? 0) > 0;
}

/**
 * A replay that resumes after an `onError: { goto }` took over a failure: `{{ error }}` as the
 * replayed run had it (migration 0033).
 */
export async function setRunErrorContext(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId; errorContext: unknown },
): Promise<void> {
  await db.query(`update workflow_runs set error_context = $3 where tenant_id = $1 and id = $2`, [
    p.tenantId,
    p.runId,
    JSON.stringify(p.errorContext),
  ]);
}

export type RunFilter = {
  statuses: string[] | null;
  workflowId: WorkflowId | null;
  triggerId: TriggerId | null;
  createdFrom: Date | null;
  createdTo: Date | null;
  /** Test runs (testWorkflow) only when true; the default (null, false) leaves them out. */
  isTest?: boolean | null;
};

/**
 * Newest first, keyset-paged on (created_at, id) so pages stay stable while runs arrive. The
 * filters are optional, so the statement is composed with the Kysely builder (db/sql.ts).
 */
export async function selectRuns(
  db: Queryable,
  p: {
    tenantId: TenantId;
    filter: RunFilter;
    after: { createdAt: Date; id: string } | null;
    limit: number;
  },
): Promise<RunRow[]> {
  const f = p.filter;
  let q = qb
    .selectFrom('workflow_runs')
    .select([
      'tenant_id',
      'id',
      'workflow_id',
      'workflow_version_id',
      'trigger_id',
      'idempotency_key',
      'input',
      'status',
      'output',
      'error',
      'trace_context',
      'replay_of_run_id',
      'origin_run_id',
      'is_test',
      'created_at',
      'started_at',
      'finished_at',
    ])
    .where('tenant_id', '=', p.tenantId)
    .where('is_test', '=', f.isTest ?? false);
  if (f.statuses) q = q.where('status', 'in', f.statuses);
  if (f.workflowId) q = q.where('workflow_id', '=', f.workflowId);
  if (f.triggerId) q = q.where('trigger_id', '=', f.triggerId);
  if (f.createdFrom) q = q.where('created_at', '>=', f.createdFrom);
  if (f.createdTo) q = q.where('created_at', '<', f.createdTo);
  const after = p.after;
  if (after) {
    q = q.where((eb) =>
      eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(after.createdAt, after.id)),
    );
  }
  const rows = await run(db, q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(p.limit));
  return (rows as RawRun[]).map(toRun);
}

/**
 * Marks a run just inserted (same transaction, before any worker can see its job) as a test
 * run: the engine then skips its metrics, dead letter and retries (engine/test-run.ts).
 */
export async function markTestRun(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId },
): Promise<void> {
  await db.query(`update workflow_runs set is_test = true where tenant_id = $1 and id = $2`, [
    p.tenantId,
    p.runId,
  ]);
}
