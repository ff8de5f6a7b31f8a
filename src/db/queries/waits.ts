/**
 * Resolving waits (definition version 2): a resume (resumeRun, the resume webhook) writes the
 * waiting StepRun's outcome and makes its run's job due now, in one statement guarded by the
 * StepRun being `waiting`; the engine's claim at that step then takes the outcome and goes on
 * (src/engine/control/). A child run's end does the same from a trigger (migration 0032).
 */
import type { Queryable } from '../pool.ts';
import type { RunId, StepRunId, TenantId } from '../../model/ids.ts';
import { JOBS_CHANNEL } from './jobs.ts';

export type ResolvedWait = { stepRunId: StepRunId; stepIndex: number; woken: number };

/**
 * The latest waiting StepRun of `stepId` in the run (in a loop body: of the first item still
 * waiting) becomes `status` with `output` (or the error), and the run's job at that step,
 * `waiting` until its deadline (migration 0033), becomes `pending` and due at `now` (never
 * later than it was), with a NOTIFY on the jobs channel at commit. Null when no StepRun of that step was
 * waiting (a concurrent resume, locked first, wins: the second finds it resolved).
 */
export async function resolveWaitingStep(
  db: Queryable,
  p: {
    tenantId: TenantId;
    runId: RunId;
    stepId: string;
    status: 'succeeded' | 'failed';
    output: string | null;
    error: { code: string; message: string } | null;
    now: Date;
  },
): Promise<ResolvedWait | null> {
  const res = await db.query<{ id: StepRunId; step_index: number; woken: number }>({
    name: 'sy_resolve_waiting_step',
    text: `with target as (
       select s.id from step_runs s
        where s.tenant_id = $1 and s.run_id = $2 and s.step_id = $3 and s.status = 'waiting'
        -- Inside a loop body each resume takes the first item still waiting, in item order.
        order by s.item_index nulls first, s.attempt desc limit 1
        for update
     ),
     resolved as (
       update step_runs s
          set status = $4, output = $5::jsonb, error_code = $6, error_message = $7,
              error_retryable = case when $6::text is not null then false end, finished_at = $8
         from target t
        where s.tenant_id = $1 and s.id = t.id and s.status = 'waiting'
       returning s.id, s.step_index
     ),
     woken as (
       update jobs j set status = 'pending', run_at = least(j.run_at, $8)
         from resolved r
        where j.tenant_id = $1 and j.run_id = $2 and j.step_index = r.step_index
          and j.status in ('waiting', 'pending')
       returning j.id
     )
     select r.id, r.step_index, (select count(*) from woken)::int as woken,
            pg_notify('${JOBS_CHANNEL}', '') as notified
       from resolved r`,
    values: [
      p.tenantId,
      p.runId,
      p.stepId,
      p.status,
      p.output,
      p.error?.code ?? null,
      p.error?.message ?? null,
      p.now,
    ],
  });
  const r = res.rows[0];
  return r ? { stepRunId: r.id, stepIndex: r.step_index, woken: r.woken } : null;
}

export type WaitState = {
  runStatus: string;
  /** The latest StepRun of the step, or null when the run has not reached it. */
  stepStatus: string | null;
  stepErrorCode: string | null;
};

/** Where a run stands at a step: why a resume found nothing waiting. Null: no such run. */
export async function selectWaitState(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId; stepId: string },
): Promise<WaitState | null> {
  const res = await db.query<{ status: string; step_status: string | null; code: string | null }>(
    `select r.status, s.status as step_status, s.error_code as code
       from workflow_runs r
       left join lateral (
         select status, error_code from step_runs
          where tenant_id = r.tenant_id and run_id = r.id and step_id = $3
          order by attempt desc, started_at desc limit 1
       ) s on true
      where r.tenant_id = $1 and r.id = $2`,
    [p.tenantId, p.runId, p.stepId],
  );
  const r = res.rows[0];
  return r ? { runStatus: r.status, stepStatus: r.step_status, stepErrorCode: r.code } : null;
}
