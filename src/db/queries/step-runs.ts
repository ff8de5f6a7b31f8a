import type { Queryable } from '../pool.ts';
import type { RunId, StepRunId, TenantId } from '../../model/ids.ts';
import type { JobId } from './jobs.ts';

export type StepRunStatus = 'running' | 'succeeded' | 'failed' | 'skipped' | 'canceled';

export type StepRunRow = {
  id: StepRunId;
  runId: RunId;
  stepId: string;
  stepIndex: number;
  attempt: number;
  status: StepRunStatus;
  input: unknown;
  output: unknown;
  errorCode: string | null;
  errorMessage: string | null;
  errorRetryable: boolean | null;
  startedAt: Date;
  finishedAt: Date | null;
};

/**
 * Attempts of this step that are still `running` although a later attempt was claimed: their
 * worker died (or lost its lease). They count as failed, retryable attempts.
 */
export async function markLostAttempts(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId; stepIndex: number; beforeAttempt: number; now: Date },
): Promise<number> {
  const res = await db.query({
    name: 'sy_mark_lost_attempts',
    text: `update step_runs
        set status = 'failed', finished_at = $5, error_code = 'E_WORKER_LOST',
            error_message = 'The worker running this attempt stopped before it finished (its lease expired).',
            error_retryable = true
      where tenant_id = $1 and run_id = $2 and step_index = $3 and status = 'running'
        and attempt < $4`,
    values: [p.tenantId, p.runId, p.stepIndex, p.beforeAttempt, p.now],
  });
  return res.rowCount ?? 0;
}

/**
 * Records the start of an attempt, only while the claim that started it is current, and marks
 * a queued run running. Undefined: the claim is stale (another worker took the job).
 */
export async function insertStepAttempt(
  db: Queryable,
  p: {
    tenantId: TenantId;
    runId: RunId;
    stepId: string;
    stepIndex: number;
    attempt: number;
    jobId: JobId;
    workerId: string;
    now: Date;
  },
): Promise<StepRunId | undefined> {
  const res = await db.query<{ id: StepRunId }>({
    name: 'sy_insert_step_attempt',
    text: `with ins as (
       insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, started_at)
       select $1, $2, $3, $4, $5, 'running', $8
        where exists (select 1 from jobs
                       where tenant_id = $1 and id = $6 and attempt = $5 and locked_by = $7
                         and status = 'running' and step_index = $4)
       returning id
     ),
     run as (
       update workflow_runs set status = 'running', started_at = coalesce(started_at, $8)
        where tenant_id = $1 and id = $2 and status = 'queued' and exists (select 1 from ins)
       returning 1
     )
     select id, (select count(*) from run) as started from ins`,
    values: [p.tenantId, p.runId, p.stepId, p.stepIndex, p.attempt, p.jobId, p.workerId, p.now],
  });
  return res.rows[0]?.id;
}

/** Removes the record of an attempt that did not happen (the runner deferred the step unrun). */
export async function deleteStepAttempt(
  db: Queryable,
  p: { tenantId: TenantId; stepRunId: StepRunId },
): Promise<void> {
  await db.query(`delete from step_runs where tenant_id = $1 and id = $2 and status = 'running'`, [
    p.tenantId,
    p.stepRunId,
  ]);
}

/** Writes the outcome of a running attempt. */
export async function finishStepAttempt(
  db: Queryable,
  p: {
    tenantId: TenantId;
    stepRunId: StepRunId;
    status: Exclude<StepRunStatus, 'running'>;
    input: unknown;
    output: unknown;
    error: { code: string; message: string; retryable: boolean } | null;
    now: Date;
  },
): Promise<void> {
  await db.query({
    name: 'sy_finish_step_attempt',
    text: `update step_runs
        set status = $3, input = $4, output = $5, error_code = $6, error_message = $7,
            error_retryable = $8, finished_at = $9
      where tenant_id = $1 and id = $2 and status = 'running'`,
    values: [
      p.tenantId,
      p.stepRunId,
      p.status,
      p.input === undefined ? null : JSON.stringify(p.input),
      p.output === undefined ? null : JSON.stringify(p.output),
      p.error?.code ?? null,
      p.error?.message ?? null,
      p.error?.retryable ?? null,
      p.now,
    ],
  });
}

/**
 * A replay from the failed step reuses the outputs of the steps before it: their last
 * successful attempts are copied into the new run.
 */
export async function copySucceededSteps(
  db: Queryable,
  p: { tenantId: TenantId; fromRunId: RunId; toRunId: RunId; beforeStepIndex: number },
): Promise<number> {
  const res = await db.query(
    `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, input,
                            output, started_at, finished_at)
     select distinct on (step_id) tenant_id, $3, step_id, step_index, attempt, status, input,
            output, started_at, finished_at
       from step_runs
      where tenant_id = $1 and run_id = $2 and step_index < $4 and status = 'succeeded'
      order by step_id, attempt desc`,
    [p.tenantId, p.fromRunId, p.toRunId, p.beforeStepIndex],
  );
  return res.rowCount ?? 0;
}

export async function selectStepRuns(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId },
): Promise<StepRunRow[]> {
  const res = await db.query<{
    id: StepRunId;
    run_id: RunId;
    step_id: string;
    step_index: number;
    attempt: number;
    status: StepRunStatus;
    input: unknown;
    output: unknown;
    error_code: string | null;
    error_message: string | null;
    error_retryable: boolean | null;
    started_at: Date;
    finished_at: Date | null;
  }>(
    `select id, run_id, step_id, step_index, attempt, status, input, output, error_code,
            error_message, error_retryable, started_at, finished_at
       from step_runs where tenant_id = $1 and run_id = $2
      order by step_index, attempt`,
    [p.tenantId, p.runId],
  );
  return res.rows.map((r) => ({
    id: r.id,
    runId: r.run_id,
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
