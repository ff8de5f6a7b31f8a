/**
 * The queue as Prometheus gauges see it (system scope), read at a cost that does not grow with
 * the backlog: running jobs, delayed ones (retries waiting out their backoff), waiting ones
 * (waiting runs) and waiting runs are counted on their partial indexes, up to a cap; the oldest due job is the first entry of the
 * due index; all jobs come from PostgreSQL's live-row estimate (as backpressure reads them).
 */
import type { Queryable } from '../pool.ts';
import { ALL_JOBS_ESTIMATE } from './jobs.ts';

export type QueueGauges = {
  /** All jobs, estimated (see estimateAllJobs in jobs.ts). */
  total: number;
  /** Claimed by a worker (exact up to the cap). */
  running: number;
  /** Pending but not due yet: a retry's backoff, a deferral (exact up to the cap). */
  delayed: number;
  /** Seconds the oldest due, unclaimed job has waited; 0 when none is due. */
  oldestDueSeconds: number;
  /** Jobs of waiting runs, until their deadline (exact up to the cap). */
  waiting: number;
  /** Runs at a wait (their StepRun `waiting`: delay, waitUntil, an event, a child run). */
  waitingRuns: number;
};

export async function selectQueueGauges(db: Queryable, p: { cap: number }): Promise<QueueGauges> {
  const res = await db.query<{
    total: string;
    running: number;
    delayed: number;
    oldest: number;
    waiting_jobs: number;
    waiting: number;
  }>({
    name: 'sy_select_queue_gauges',
    text: `select ${ALL_JOBS_ESTIMATE} as total,
            (select count(*)::int from (select 1 from jobs where status = 'running'
                                          and lease_expires_at is not null limit $1) r) as running,
            (select count(*)::int from (select 1 from jobs where status = 'pending'
                                          and run_at > now() limit $1) d) as delayed,
            coalesce(extract(epoch from now() - (
              select min(run_at) from jobs where status = 'pending' and run_at <= now())), 0
            )::float8 as oldest,
            (select count(*)::int from (select 1 from jobs where status = 'waiting'
                                          limit $1) w) as waiting_jobs,
            -- On the partial index of waiting StepRuns (0030): bounded like the others.
            (select count(distinct run_id)::int from (select run_id from step_runs
                                          where status = 'waiting' limit $1) w) as waiting`,
    values: [p.cap],
  });
  const r = res.rows[0]!;
  return {
    total: Number(r.total),
    running: r.running,
    delayed: r.delayed,
    oldestDueSeconds: r.oldest,
    waiting: r.waiting_jobs,
    waitingRuns: r.waiting,
  };
}
