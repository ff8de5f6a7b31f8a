/** Read statements on runs, step runs and execution logs used by the product API. */
import type { Queryable } from '../pool.ts';
import type { RunId, TriggerId, WorkflowId } from '../../model/ids.ts';

export type RunRow = {
  id: RunId;
  workflowId: WorkflowId;
  workflowVersionId: string;
  triggerId: TriggerId | null;
  idempotencyKey: string | null;
  input: unknown;
  status: string;
  output: unknown;
  error: unknown;
  traceContext: string | null;
  replayOfRunId: RunId | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
};
type Raw = {
  id: RunId;
  workflow_id: WorkflowId;
  workflow_version_id: string;
  trigger_id: TriggerId | null;
  idempotency_key: string | null;
  input: unknown;
  status: string;
  output: unknown;
  error: unknown;
  trace_context: string | null;
  replay_of_run_id: RunId | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
};
const columns = `id, workflow_id, workflow_version_id, trigger_id, idempotency_key, input, status, output, error, trace_context,
  replay_of_run_id, created_at, started_at, finished_at`;
const map = (r: Raw): RunRow => ({
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
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export type RunFilter = {
  statuses: string[] | null;
  workflowId: WorkflowId | null;
  triggerId: TriggerId | null;
  createdFrom: Date | null;
  createdTo: Date | null;
};

/** Newest first, keyset-paged on (created_at, id) so pages stay stable while runs arrive. */
export async function selectRuns(
  db: Queryable,
  p: { filter: RunFilter; after: { createdAt: Date; id: string } | null; limit: number },
): Promise<RunRow[]> {
  const f = p.filter;
  const res = await db.query<Raw>(
    `select ${columns} from workflow_runs
      where ($1::text[] is null or status = any($1))
        and ($2::uuid is null or workflow_id = $2)
        and ($3::uuid is null or trigger_id = $3)
        and ($4::timestamptz is null or created_at >= $4)
        and ($5::timestamptz is null or created_at < $5)
        and ($6::timestamptz is null or (created_at, id) < ($6, $7::uuid))
      order by created_at desc, id desc
      limit $8`,
    [
      f.statuses,
      f.workflowId,
      f.triggerId,
      f.createdFrom,
      f.createdTo,
      p.after?.createdAt ?? null,
      p.after?.id ?? null,
      p.limit,
    ],
  );
  return res.rows.map(map);
}

export async function selectRunById(db: Queryable, p: { id: RunId }): Promise<RunRow | undefined> {
  const res = await db.query<Raw>(`select ${columns} from workflow_runs where id = $1`, [p.id]);
  return res.rows[0] && map(res.rows[0]);
}

export type StepRunRow = {
  id: string;
  stepId: string;
  stepIndex: number;
  attempt: number;
  status: string;
  input: unknown;
  output: unknown;
  errorCode: string | null;
  errorMessage: string | null;
  errorRetryable: boolean | null;
  startedAt: Date;
  finishedAt: Date | null;
};

export async function selectStepRunsOfRun(
  db: Queryable,
  p: { runId: RunId },
): Promise<StepRunRow[]> {
  const res = await db.query<{
    id: string;
    step_id: string;
    step_index: number;
    attempt: number;
    status: string;
    input: unknown;
    output: unknown;
    error_code: string | null;
    error_message: string | null;
    error_retryable: boolean | null;
    started_at: Date;
    finished_at: Date | null;
  }>(
    `select id, step_id, step_index, attempt, status, input, output, error_code, error_message, error_retryable, started_at, finished_at
       from step_runs where run_id = $1 order by step_index, attempt`,
    [p.runId],
  );
  return res.rows.map((r) => ({
    id: r.id,
    stepId: r.step_id,
    stepIndex: r.step_index,
    attempt: r.attempt,
    status: r.status,
    input: r.input,
    output: r.output,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    errorRetryable: r.error_retryable,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  }));
}

export type ExecutionLogRow = {
  id: number;
  stepRunId: string | null;
  level: string;
  message: string;
  data: unknown;
  loggedAt: Date;
};

export async function selectExecutionLogsOfRun(
  db: Queryable,
  p: { runId: RunId; afterId: number | null; limit: number; search: string | null },
): Promise<ExecutionLogRow[]> {
  const res = await db.query<{
    id: number;
    step_run_id: string | null;
    level: string;
    message: string;
    data: unknown;
    logged_at: Date;
  }>(
    `select id, step_run_id, level, message, data, logged_at from execution_logs
      where run_id = $1 and ($2::bigint is null or id > $2) and ($4::text is null or message ilike '%' || $4 || '%')
      order by id limit $3`,
    [p.runId, p.afterId, p.limit, p.search],
  );
  return res.rows.map((r) => ({
    id: r.id,
    stepRunId: r.step_run_id,
    level: r.level,
    message: r.message,
    data: r.data,
    loggedAt: r.logged_at,
  }));
}
