/**
 * The queue. Every write made on behalf of a claim is guarded by `attempt` and `locked_by`:
 * a worker whose lease expired (and whose job was claimed again) changes nothing.
 */
import type { Queryable } from '../pool.ts';
import type { RunId, TenantId } from '../../model/ids.ts';

export type JobId = number;

export type ClaimedJob = {
  tenantId: TenantId;
  jobId: JobId;
  runId: RunId;
  stepIndex: number;
  /** The attempt this claim started (1 for the first). */
  attempt: number;
  /** The forEach item this job runs (migration 0031); absent or null: the run's main job. */
  itemIndex?: number | null;
  /**
   * `{{ loop.item }}` of an item's job: read when it is prepared (not by the claim), kept with
   * the claim while the item goes on on the same worker.
   */
  loopItem?: unknown;
};

type ClaimedRow = {
  tenant_id: TenantId;
  id: JobId;
  run_id: RunId;
  step_index: number;
  attempt: number;
  item_index: number | null;
};

const toClaimed = (r: ClaimedRow): ClaimedJob => ({
  tenantId: r.tenant_id,
  jobId: r.id,
  runId: r.run_id,
  stepIndex: r.step_index,
  attempt: r.attempt,
  itemIndex: r.item_index,
});

/** Channel that wakes workers when a job becomes due now (fires at commit). */
export const JOBS_CHANNEL = 'switchyard_jobs';
/** Channel that tells the worker holding a job that its run was canceled. */
export const CANCEL_CHANNEL = 'switchyard_cancel';

/**
 * Claims up to `limit` due jobs, fairly across tenants (system scope). The tenants with due
 * work are found by a skip scan over (tenant_id); each gets an equal share of the batch, capped
 * by its free concurrency (`tenantMaxConcurrency` minus its running jobs); the batch then
 * takes round-robin: every tenant's first job before any tenant's second, and among those the
 * tenants with the fewest running jobs first. A tenant with 100,000 due jobs therefore gets one
 * turn per round, like a tenant with one, and cannot keep a newcomer waiting behind it.
 *
 * The concurrency cap is counted from the statement's snapshot: two workers claiming for the
 * same tenant at the same instant can overshoot it by at most one share each (documented).
 */
export async function claimJobs(db: Queryable, p: ClaimRequest): Promise<ClaimedJob[]> {
  return (await claimDueJobs(db, p)).jobs;
}

type ClaimRequest = {
  now: Date;
  workerId: string;
  limit: number;
  leaseMs: number;
  tenantMaxConcurrency: number;
  /** Commit without waiting for the WAL flush (relaxCommitIf in jobs.ts). */
  relaxDurability?: boolean;
};

/**
 * claimJobs, and whether the queue may still hold due jobs this claim left (`more`): a tenant
 * at its cap of running jobs (its jobs stay queued although fewer than asked for were
 * claimed), a tenant that got its whole share or reached its cap with this claim, or a batch
 * cut at `limit`. Then a slot that frees should claim again (worker.ts); otherwise the claim
 * took every due job it could, and the queue held nothing more for this worker.
 */
export async function claimDueJobs(
  db: Queryable,
  p: ClaimRequest,
): Promise<{ jobs: ClaimedJob[]; more: boolean }> {
  const res = await db.query<ClaimedRow | (Record<keyof ClaimedRow, null> & { more: true })>({
    name: 'sy_claim_jobs',
    text: `with recursive due_tenants(tenant_id) as (
       (select tenant_id from jobs
         where status = 'pending' and run_at <= $1 order by tenant_id limit 1)
       union all
       select (select j.tenant_id from jobs j
                where j.status = 'pending' and j.run_at <= $1 and j.tenant_id > d.tenant_id
                order by j.tenant_id limit 1)
         from due_tenants d where d.tenant_id is not null
     ),
     eligible as (
       select d.tenant_id,
         $5::int - (select count(*) from jobs r
                     where r.tenant_id = d.tenant_id and r.status = 'running')::int as free
       from due_tenants d where d.tenant_id is not null
     ),
     share as (
       select greatest(1, ceil($3::numeric /
         greatest(1, (select count(*) from eligible where free > 0))))::int as n
     ),
     picked as (
       select c.tenant_id, c.id, c.ctid, c.run_at, e.free,
              row_number() over (partition by c.tenant_id order by c.run_at, c.id) as rank
       from eligible e cross join share s
       cross join lateral (
         select j.tenant_id, j.id, j.ctid, j.run_at from jobs j
          where j.tenant_id = e.tenant_id and j.status = 'pending' and j.run_at <= $1
          order by j.run_at, j.id
          limit least(e.free, s.n)
          for update skip locked
       ) c
       where e.free > 0
     ),
     chosen as (select ctid from picked order by rank, free desc, run_at, id limit $3),
     -- The locked rows by their ctid (one TID scan): a join on the key let the generic plan,
     -- made for a batch of unknown size, hash-join over a seq scan of a big queue.
     claimed as (
       update jobs j
          set status = 'running', attempt = j.attempt + 1, locked_by = $2,
              lease_expires_at = $1::timestamptz + $4::int * interval '1 millisecond'
        where j.ctid = any (array(select ctid from chosen))
       returning j.tenant_id, j.id, j.run_id, j.step_index, j.attempt, j.item_index,
                 ${relaxCommitIf('$6')} as relaxed
     )
     select *, false as more from claimed
     union all
     (select null, null, null, null, null, null, null, true from eligible e
       where e.free <= 0
          or (select count(*) from picked p where p.tenant_id = e.tenant_id)
               >= least(e.free, (select n from share))
          or (select count(*) from picked) > $3
       limit 1)`,
    values: [
      p.now,
      p.workerId,
      p.limit,
      p.leaseMs,
      p.tenantMaxConcurrency,
      p.relaxDurability ?? false,
    ],
  });
  return {
    jobs: res.rows.flatMap((r) => (r.id === null ? [] : [toClaimed(r)])),
    more: res.rows.some((r) => r.id === null),
  };
}

/**
 * The claim loop's periodic upkeep in one statement (system scope): jobs whose lease expired go
 * back to the queue (requeueExpiredJobs), and jobs of waiting runs whose deadline passed
 * become `pending` to be claimed — on the partial index of waiting jobs, at most `limit` per
 * call, rows another worker is moving skipped. (A resumer makes its job pending at once.)
 * Also answers the next deadline of a waiting job (one probe of that index), so that the
 * worker can sweep then rather than at its next poll.
 */
export async function requeueExpiredAndWakeDue(
  db: Queryable,
  p: { now: Date; limit: number },
): Promise<{ requeued: number; woken: number; nextDue: Date | null }> {
  const res = await db.query<{ requeued: number; woken: number; next_due: Date | null }>({
    name: 'sy_requeue_expired_and_wake_due',
    text: `with woken as (
       update jobs j set status = 'pending'
        where j.ctid = any (array(
          select ctid from jobs where status = 'waiting' and run_at <= $1
           order by run_at limit $2 for update skip locked))
       returning 1
     ),
     requeued as (
       update jobs set status = 'pending', locked_by = null, lease_expires_at = null, run_at = $1
        where status = 'running' and lease_expires_at < $1
       returning 1
     )
     select (select count(*) from requeued)::int as requeued,
            (select count(*) from woken)::int as woken,
            (select run_at from jobs where status = 'waiting' and run_at > $1
              order by run_at limit 1) as next_due`,
    values: [p.now, p.limit],
  });
  const r = res.rows[0]!;
  return { requeued: r.requeued, woken: r.woken, nextDue: r.next_due };
}

/**
 * Returns jobs whose lease expired (their worker died or lost the database) to the queue; the
 * next claim counts a new attempt (system scope).
 */
export async function requeueExpiredJobs(db: Queryable, p: { now: Date }): Promise<number> {
  const res = await db.query({
    name: 'sy_requeue_expired_jobs',
    text: `update jobs set status = 'pending', locked_by = null, lease_expires_at = null, run_at = $1
      where status = 'running' and lease_expires_at < $1`,
    values: [p.now],
  });
  return res.rowCount ?? 0;
}

/**
 * Extends the leases this worker still holds; returns the ids it still holds (system scope).
 * Rows are locked in id order, like the step transitions of a batch (step-transitions.ts), so
 * that a renewal and a batch holding some of the same jobs never deadlock.
 */
export async function extendLeases(
  db: Queryable,
  p: { workerId: string; jobs: { tenantId: TenantId; jobId: JobId }[]; leaseUntil: Date },
): Promise<JobId[]> {
  const res = await db.query<{ id: JobId }>({
    name: 'sy_extend_leases',
    text: `with held as (
       select j.tenant_id, j.id from jobs j
         join unnest($2::uuid[], $3::bigint[]) as h(tenant_id, id)
           on j.tenant_id = h.tenant_id and j.id = h.id
        where j.status = 'running' and j.locked_by = $1
        order by j.id
        for update of j
     )
     update jobs j set lease_expires_at = $4
       from held where j.tenant_id = held.tenant_id and j.id = held.id
     returning j.id`,
    values: [p.workerId, p.jobs.map((j) => j.tenantId), p.jobs.map((j) => j.jobId), p.leaseUntil],
  });
  return res.rows.map((r) => r.id);
}

type Guard = { tenantId: TenantId; jobId: JobId; attempt: number; workerId: string };

/**
 * Gives back a claim whose attempt never started (a worker stopping between two steps): the
 * attempt is not counted. False when stale.
 */
export async function unclaimJob(db: Queryable, p: Guard & { runAt: Date }): Promise<boolean> {
  const res = await db.query({
    name: 'sy_unclaim_job',
    text: `update jobs set status = 'pending', locked_by = null, lease_expires_at = null, run_at = $5,
            attempt = attempt - 1
      where tenant_id = $1 and id = $2 and attempt = $3 and locked_by = $4 and status = 'running'`,
    values: [p.tenantId, p.jobId, p.attempt, p.workerId, p.runAt],
  });
  return res.rowCount === 1;
}

/** Removes the claimed job once its run is finished. False when the claim is stale. */
export async function deleteClaimedJob(db: Queryable, p: Guard): Promise<boolean> {
  const res = await db.query({
    name: 'sy_delete_claimed_job',
    text: `delete from jobs
      where tenant_id = $1 and id = $2 and attempt = $3 and locked_by = $4 and status = 'running'`,
    values: [p.tenantId, p.jobId, p.attempt, p.workerId],
  });
  return res.rowCount === 1;
}

/**
 * A select-list expression that, when the boolean parameter is true, makes the current
 * transaction commit without waiting for its WAL flush: folded into the statement that needs it
 * (one round trip fewer). Used where losing the last instants of work in a PostgreSQL crash
 * (never in a worker crash: a committed row is visible to every session at once) only repeats
 * work that is at-least-once anyway: claims and attempt-start markers (a lost claim is claimed
 * again), and, with ENGINE_ASYNC_COMMIT, step transitions (a lost transition runs the step
 * again, with the same idempotency key). The statement must return a row for it to take effect;
 * the callers' do whenever they wrote anything.
 */
export function relaxCommitIf(param: string): string {
  return `case when ${param}::bool then set_config('synchronous_commit', 'off', true) end`;
}

/**
 * The run-change triggers stay silent for the rest of the transaction (migration 0016): its
 * caller sends the changes itself once committed. Folded into the statement, like
 * relaxCommitIf; it must return a row to take effect, before the statement's triggers fire.
 */
export function runChangesByCallerIf(param: string): string {
  return `case when ${param}::bool then set_config('switchyard.run_changes', 'caller', true) end`;
}

/**
 * The tenant's jobs (pending and running; not those of waiting runs), counted up to `cap`: an
 * index-only scan of `jobs_tenant_status_idx` that stops at the cap, so the cost is bounded by
 * the limit it is compared with, never by the size of the queue (system scope).
 */
export async function countTenantJobs(
  db: Queryable,
  p: { tenantId: TenantId; cap: number },
): Promise<number> {
  const res = await db.query<{ n: number }>({
    name: 'sy_count_tenant_jobs',
    text: `select count(*)::int as n from (
             select 1 from jobs where tenant_id = $1 and status in ('pending', 'running') limit $2
           ) j`,
    values: [p.tenantId, p.cap],
  });
  return res.rows[0]!.n;
}

/** The expression of estimateAllJobs (as text: a bigint), for statements that read it too. */
export const ALL_JOBS_ESTIMATE = `greatest(pg_stat_get_live_tuples('jobs'::regclass), 0)::text`;

/**
 * All jobs, as PostgreSQL's statistics estimate them (`n_live_tup`): one row read whatever the
 * size of the queue. Inserts and deletes count once their transaction ends, as each backend
 * reports its statistics (at most about a second later); vacuum and analyze re-estimate it.
 */
export async function estimateAllJobs(db: Queryable): Promise<number> {
  const res = await db.query<{ n: string }>({
    name: 'sy_estimate_all_jobs',
    text: `select ${ALL_JOBS_ESTIMATE} as n`,
  });
  return Number(res.rows[0]!.n);
}

export type RunWaitingRow = {
  /** When the run's next step becomes due. */
  until: Date;
  /** The error code of the run's last failed or handed-back attempt (its log line), if any. */
  lastErrorCode: string | null;
};

/**
 * Whether the run's step waits in the queue (pending, due later): a retry's backoff, or a step
 * the runner handed back unrun (rate limit, open circuit breaker; no step run is kept for
 * those, so the why comes from the attempt's summary line in the execution log).
 */
export async function selectRunWaiting(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId },
): Promise<RunWaitingRow | null> {
  const res = await db.query<{ run_at: Date; code: string | null }>(
    `select j.run_at,
            (select l.data -> 'data' ->> 'code' from execution_logs l
              where l.tenant_id = j.tenant_id and l.run_id = j.run_id
                and l.data -> 'data' ? 'code'
              order by l.logged_at desc, l.id desc limit 1) as code
       from jobs j
      where j.tenant_id = $1 and j.run_id = $2 and j.status = 'pending' and j.run_at > now()`,
    [p.tenantId, p.runId],
  );
  const r = res.rows[0];
  return r ? { until: r.run_at, lastErrorCode: r.code } : null;
}
