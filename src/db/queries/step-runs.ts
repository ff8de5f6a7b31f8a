import type { Queryable } from '../pool.ts';
import type { RunId, StepRunId, TenantId } from '../../model/ids.ts';
import { runChangesByCallerIf, type JobId } from './jobs.ts';

export type StepRunStatus = 'running' | 'waiting' | 'succeeded' | 'failed' | 'skipped' | 'canceled';

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
  /** The forEach item this attempt belongs to; null outside a loop body. */
  itemIndex: number | null;
  /** A switch's chosen branch (`default` for the default); null for other steps. */
  branch: string | null;
  /** A waiting step's deadline (delay/waitUntil: when it goes on; waitForEvent: its timeout). */
  waitUntil: Date | null;
  /** The child run a callWorkflow step started. */
  childRunId: RunId | null;
};

/**
 * Attempts of this step that are still `running` although a later attempt was claimed: their
 * worker died (or lost its lease). They are marked failed `E_WORKER_LOST`. Answers how many
 * attempts before `beforeAttempt` count against the action's maxAttempts: those recorded with
 * any other outcome. A lost worker is the platform's fault, not the step's (counted apart, by
 * the caller, from the claims that are not among them).
 */
export async function markLostAttempts(
  db: Queryable,
  p: {
    tenantId: TenantId;
    runId: RunId;
    stepIndex: number;
    beforeAttempt: number;
    now: Date;
    /** A forEach item's job (migration 0031): only that item's attempts at this pc. */
    itemIndex?: number | null;
  },
): Promise<{ marked: number; countedAttempts: number }> {
  const res = await db.query<{ marked: number; counted: number }>({
    name: 'sy_mark_lost_attempts',
    text: `with lost as (
       update step_runs
          set status = 'failed', finished_at = $5, error_code = 'E_WORKER_LOST',
              error_message = 'The worker running this attempt stopped before it finished (its lease expired).',
              error_retryable = true
        where tenant_id = $1 and run_id = $2 and step_index = $3 and status = 'running'
          and attempt < $4 and coalesce(item_index, -1) = $6
       returning id
     )
     select (select count(*) from lost)::int as marked,
            (select count(*) from step_runs s
              where s.tenant_id = $1 and s.run_id = $2 and s.step_index = $3 and s.attempt < $4
                and coalesce(s.item_index, -1) = $6
                and s.error_code is distinct from 'E_WORKER_LOST'
                and s.id not in (select id from lost))::int as counted`,
    values: [p.tenantId, p.runId, p.stepIndex, p.beforeAttempt, p.now, p.itemIndex ?? -1],
  });
  const r = res.rows[0]!;
  return { marked: r.marked, countedAttempts: r.counted };
}

/**
 * Records the start of attempts of claimed jobs of one tenant in one statement: each attempt is
 * recorded only while its claim is current, and its run, if still queued, becomes running.
 * Returns the new StepRun id by job; a job missing from it had a stale claim. The run's status
 * guard is kept off the status index (why: step-transitions.ts). A forEach item's attempt
 * records its item (the job's `item_index`, migration 0031).
 */
export async function startStepAttempts(
  db: Queryable,
  p: {
    tenantId: TenantId;
    workerId: string;
    now: Date;
    items: { jobId: JobId; runId: RunId; stepId: string; stepIndex: number; attempt: number }[];
    /** The caller sends the run changes after the commit (runChangesByCallerIf, jobs.ts). */
    runChangesByCaller?: boolean;
  },
): Promise<Map<JobId, StepRunId>> {
  const res = await db.query<{ job_id: JobId; id: StepRunId }>({
    name: 'sy_start_step_attempts',
    text: `with ins as (
       insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, started_at,
                              item_index)
       select $1, i.run_id, i.step_id, i.step_index, i.attempt, 'running', $3, j.item_index
         from unnest($4::bigint[], $5::uuid[], $6::text[], $7::int[], $8::int[])
           as i(job_id, run_id, step_id, step_index, attempt)
         join jobs j on j.tenant_id = $1 and j.id = i.job_id
        where j.attempt = i.attempt and j.locked_by = $2 and j.status = 'running'
          and j.step_index = i.step_index
       returning run_id, item_index, id
     ),
     run as (
       update workflow_runs r set status = 'running', started_at = coalesce(r.started_at, $3)
         from ins
        where r.tenant_id = $1 and r.id = ins.run_id
          and (r.status in ('queued', 'waiting')) is true
     )
     -- A run's jobs are told apart by their item (one job per item at a time).
     select j.id as job_id, ins.id, ${runChangesByCallerIf('$9')} as run_changes
       from ins join jobs j on j.tenant_id = $1 and j.id = any($4::bigint[])
        and j.run_id = ins.run_id and coalesce(j.item_index, -1) = coalesce(ins.item_index, -1)`,
    values: [
      p.tenantId,
      p.workerId,
      p.now,
      p.items.map((i) => i.jobId),
      p.items.map((i) => i.runId),
      p.items.map((i) => i.stepId),
      p.items.map((i) => i.stepIndex),
      p.items.map((i) => i.attempt),
      p.runChangesByCaller ?? false,
    ],
  });
  return new Map(res.rows.map((r) => [r.job_id, r.id]));
}

/**
 * Removes an attempt's StepRun that never ran (its job given back uncounted), while it is still
 * `running`. The caller unclaims the job in the same transaction.
 */
export async function deleteUnranAttempt(
  db: Queryable,
  p: { tenantId: TenantId; stepRunId: StepRunId },
): Promise<void> {
  await db.query(`delete from step_runs where tenant_id = $1 and id = $2 and status = 'running'`, [
    p.tenantId,
    p.stepRunId,
  ]);
}

/**
 * A replay from the failed step reuses the outputs of the steps before it: their last
 * successful attempts are copied into the new run (with the path they record: a switch's
 * branch, a wait's deadline), so a version-2 run resumes inside the branch it died in.
 */
export async function copySucceededSteps(
  db: Queryable,
  p: { tenantId: TenantId; fromRunId: RunId; toRunId: RunId; beforeStepIndex: number },
): Promise<number> {
  const res = await db.query(
    `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, input,
                            output, started_at, finished_at, item_index, branch, wait_until)
     select distinct on (step_id, coalesce(item_index, -1)) tenant_id, $3, step_id, step_index,
            attempt, status, input, output, started_at, finished_at, item_index, branch,
            wait_until
       from step_runs
      where tenant_id = $1 and run_id = $2 and step_index < $4 and status = 'succeeded'
      order by step_id, coalesce(item_index, -1), attempt desc`,
    [p.tenantId, p.fromRunId, p.toRunId, p.beforeStepIndex],
  );
  return res.rowCount ?? 0;
}

/**
 * A run's StepRuns in program order. `withItems: false` leaves out the attempts of forEach
 * items (a loop of 10,000 items has as many per body step): run detail pages those with
 * selectLoopItems.
 */
export async function selectStepRuns(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId; withItems?: boolean },
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
    item_index: number | null;
    branch: string | null;
    wait_until: Date | null;
    child_run_id: RunId | null;
  }>(
    `select id, run_id, step_id, step_index, attempt, status, input, output, error_code,
            error_message, error_retryable, started_at, finished_at, item_index, branch,
            wait_until, child_run_id
       from step_runs where tenant_id = $1 and run_id = $2 and ($3 or item_index is null)
      order by step_index, item_index nulls first, attempt`,
    [p.tenantId, p.runId, p.withItems ?? true],
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
    itemIndex: r.item_index,
    branch: r.branch,
    waitUntil: r.wait_until,
    childRunId: r.child_run_id,
  }));
}

export type LoopItemRow = {
  itemIndex: number;
  /** The item's furthest StepRun among the loop's body steps: its step, status and error. */
  stepId: string;
  status: StepRunStatus;
  errorCode: string | null;
  errorMessage: string | null;
  startedAt: Date;
  finishedAt: Date | null;
};

/**
 * The items of a forEach seen so far, in item order, keyset-paged on item_index: for each, the
 * latest attempt of the furthest body step it reached (`stepIds`: the loop's body steps).
 */
export async function selectLoopItems(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId; stepIds: string[]; afterItem: number; limit: number },
): Promise<LoopItemRow[]> {
  const res = await db.query<{
    item_index: number;
    step_id: string;
    status: StepRunStatus;
    error_code: string | null;
    error_message: string | null;
    started_at: Date;
    finished_at: Date | null;
  }>(
    `select distinct on (item_index) item_index, step_id, status, error_code, error_message,
            started_at, finished_at
       from step_runs
      where tenant_id = $1 and run_id = $2 and step_id = any($3::text[])
        and item_index is not null and item_index > $4
      order by item_index, step_index desc, attempt desc
      limit $5`,
    [p.tenantId, p.runId, p.stepIds, p.afterItem, p.limit],
  );
  return res.rows.map((r) => ({
    itemIndex: r.item_index,
    stepId: r.step_id,
    status: r.status,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  }));
}
