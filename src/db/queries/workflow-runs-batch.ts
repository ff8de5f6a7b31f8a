import type { Queryable } from '../pool.ts';
import type { RunId, StepRunId, TenantId, TriggerId, WorkflowId } from '../../model/ids.ts';
import type { ClaimedJob, JobId } from './jobs.ts';
import { ACTION_ROW_JSON } from './step-context.ts';
import type { ActionRow } from './workflow-runs.ts';

export type BatchRunItem = {
  runId: RunId;
  workflowId: WorkflowId;
  triggerId: TriggerId | null;
  idempotencyKey: string | null;
  inputHash: Buffer | null;
  /** The run's input, already serialised (the intake bounds a batch by its bytes). */
  inputJson: string;
  traceContext: string | null;
  /**
   * The first step as the worker taking the run would start it, if the workflow's current
   * version is still `versionId` (HandOff.firstStart in engine/intake.ts); null: not known.
   */
  firstStart: FirstStep | null;
};

/** The first instruction of a version, an action step: what its StepRun and action need. */
export type FirstStep = { versionId: string; stepId: string; actionId: string | null };

/** A handed-over run whose first attempt the intake's statement started (`firstStart`). */
export type StartedAtIntake = {
  stepRunId: StepRunId;
  /** The run's input as stored (jsonb), as a worker reading the run would see it. */
  input: unknown;
  action: ActionRow | null;
};

export type IntakeClaim = ClaimedJob & { started: StartedAtIntake | null };

/**
 * Starts many runs of one tenant in one statement: each item whose workflow is published and
 * not archived, and whose idempotency key (if any) is free or expired, gets its key, its run
 * (pinned to the current version) and the job of its first step. Returns the ids of the runs
 * created; an item missing from it was refused (its key is taken, or its workflow cannot start
 * runs) and wrote nothing. The caller must not put one (workflow, key) twice in a batch:
 * PostgreSQL refuses to update one row twice in a statement.
 *
 * It notifies nobody itself: the caller wakes the workers once committed, and sends the run
 * changes too when its transaction silences the triggers' (`switchyard.run_changes`; both in
 * engine/intake.ts, for the reason in engine/run-changes.ts).
 *
 * `handOff`: up to `count` of the new runs' jobs are inserted claimed by that worker (running,
 * its lease, attempt 1), as the claim would (jobs.ts, claimJobs), and returned: the worker in
 * the caller's process runs them without a claim. Only while the tenant has no job due and
 * waiting in the queue (those go first) and within the tenant's cap of running jobs. Their
 * runs are inserted running (started at their creation), not queued.
 */
export async function insertRunsBatch(
  db: Queryable,
  p: {
    tenantId: TenantId;
    now: Date;
    keyExpiresAt: Date;
    items: BatchRunItem[];
    handOff?: { workerId: string; count: number; leaseUntil: Date; tenantMaxConcurrency: number };
  },
): Promise<{ created: Set<RunId>; claimed: IntakeClaim[] }> {
  const res = await db.query<{
    id: RunId;
    job_id: JobId;
    claimed: boolean;
    step_run_id: StepRunId | null;
    input: unknown;
    action: ActionRow | null;
  }>({
    name: 'sy_insert_runs_batch',
    text: `with item as (
       select * from unnest($4::uuid[], $5::uuid[], $6::uuid[], $7::text[], $8::bytea[],
                            $9::text[], $10::text[], $15::uuid[], $16::text[], $17::uuid[])
         as i(run_id, workflow_id, trigger_id, key, input_hash, input, trace_context,
              first_version_id, first_step_id, first_action_id)
     ),
     ready as (
       select item.*, w.current_version_id as version_id
         from item join workflows w on w.tenant_id = $1 and w.id = item.workflow_id
        where w.current_version_id is not null and w.archived_at is null
     ),
     claimed as (
       insert into idempotency_keys (tenant_id, workflow_id, key, input_hash, run_id, created_at,
                                     expires_at)
       select $1, workflow_id, key, input_hash, run_id, $2, $3 from ready where key is not null
        -- One lock order for every batch: two batches holding each other's keys cannot deadlock.
        order by workflow_id, key
       on conflict (tenant_id, workflow_id, key) do update
          set input_hash = excluded.input_hash, run_id = excluded.run_id,
              created_at = excluded.created_at, expires_at = excluded.expires_at
        where idempotency_keys.expires_at <= excluded.created_at
       returning run_id
     ),
     hand_off as (
       select greatest(0, least($11::int,
                $14::int - (select count(*) from jobs where tenant_id = $1 and status = 'running')
              ))::int as n
        where $11::int > 0
          and not exists (select 1 from jobs
                           where tenant_id = $1 and status = 'pending' and run_at <= $2)
     ),
     accepted as (
       select ready.*, row_number() over () <= coalesce((select n from hand_off), 0) as handed_over
         from ready
        where key is null or run_id in (select run_id from claimed)
     ),
     -- A run handed over is created running: its worker holds it from this statement on, so
     -- its attempt's start has no queued run to update (step-runs.ts, startStepAttempts).
     run as (
       insert into workflow_runs (tenant_id, id, workflow_id, workflow_version_id, trigger_id,
         idempotency_key, input_hash, input, trace_context, created_at, status, started_at)
       select $1, run_id, workflow_id, version_id, trigger_id, key, input_hash, input::jsonb,
              trace_context, $2, case when handed_over then 'running' else 'queued' end,
              case when handed_over then $2::timestamptz end
         from accepted
       returning tenant_id, id, status = 'running' as claimed, input
     ),
     -- The first attempt of a handed-over run whose first step the worker named, for the
     -- version the run is pinned to (a version published since: prepared as a claim's).
     first as (
       insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, started_at)
       select $1, run_id, first_step_id, 0, 1, 'running', $2
         from accepted
        where handed_over and first_version_id = version_id
       returning run_id, id
     ),
     job as (
       insert into jobs (tenant_id, run_id, step_index, run_at, created_at, status, attempt,
                         locked_by, lease_expires_at)
       select tenant_id, id, 0, $2, $2,
              case when claimed then 'running' else 'pending' end,
              case when claimed then 1 else 0 end,
              case when claimed then $12::text end,
              case when claimed then $13::timestamptz end
         from run
       returning run_id, id, status = 'running' as claimed
     )
     select job.run_id as id, job.id as job_id, job.claimed, f.id as step_run_id,
            case when f.id is not null then run.input end as input,
            case when f.id is not null then
              (select ${ACTION_ROW_JSON}
                   where a.tenant_id = $1
                     and a.id = (select first_action_id from item where item.run_id = f.run_id)) x)
            end as action
       from job join run on run.id = job.run_id
       left join first f on f.run_id = job.run_id`,
    values: [
      p.tenantId,
      p.now,
      p.keyExpiresAt,
      p.items.map((i) => i.runId),
      p.items.map((i) => i.workflowId),
      p.items.map((i) => i.triggerId),
      p.items.map((i) => i.idempotencyKey),
      p.items.map((i) => i.inputHash),
      p.items.map((i) => i.inputJson),
      p.items.map((i) => i.traceContext),
      p.handOff?.count ?? 0,
      p.handOff?.workerId ?? null,
      p.handOff?.leaseUntil ?? null,
      p.handOff?.tenantMaxConcurrency ?? 0,
      p.items.map((i) => i.firstStart?.versionId ?? null),
      p.items.map((i) => i.firstStart?.stepId ?? null),
      p.items.map((i) => i.firstStart?.actionId ?? null),
    ],
  });
  return {
    created: new Set(res.rows.map((r) => r.id)),
    claimed: res.rows
      .filter((r) => r.claimed)
      .map((r) => ({
        tenantId: p.tenantId,
        jobId: r.job_id,
        runId: r.id,
        stepIndex: 0,
        attempt: 1,
        itemIndex: null,
        started: r.step_run_id
          ? { stepRunId: r.step_run_id, input: r.input, action: r.action }
          : null,
      })),
  };
}
