/**
 * A tenant's health over the last hour, computed from its runs and step runs (no sampler, no
 * extra table: the runs keep created, started and finished times, from which the queue at any
 * minute follows). Runs are read through workflow_runs_time_idx (created in the last day) and
 * workflow_runs_status_time_idx (still queued or running, however old).
 */
import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';

export type HealthMinute = {
  at: Date;
  /** Runs created and not started at the end of the minute. */
  queued: number;
  /** Runs created and not finished at the end of the minute. */
  inFlight: number;
  /** Age of the oldest run not started at the end of the minute, in seconds (0: none). */
  oldestQueuedSeconds: number;
  succeeded: number;
  failed: number;
  dead: number;
  canceled: number;
};

/** The 60 minutes up to `now` (the last one partial), oldest first. */
export async function selectHealthMinutes(
  db: Queryable,
  p: { tenantId: TenantId; now: Date },
): Promise<HealthMinute[]> {
  const res = await db.query<{
    at: Date;
    queued: number;
    in_flight: number;
    oldest: number;
    succeeded: number;
    failed: number;
    dead: number;
    canceled: number;
  }>(
    `with bounds as (
       select date_trunc('minute', $2::timestamptz) - interval '59 minutes' as t0),
     runs as materialized (
       select r.created_at, r.started_at, r.finished_at, r.status
         from workflow_runs r, bounds b
        where r.tenant_id = $1
          and (r.created_at >= b.t0 - interval '1 day' or r.status in ('queued', 'running'))
          and (r.finished_at is null or r.finished_at >= b.t0)
          and r.created_at <= $2),
     minutes as (
       select m, least(m + interval '1 minute', $2::timestamptz) as e
         from bounds b, generate_series(b.t0, date_trunc('minute', $2::timestamptz), interval '1 minute') m)
     select mm.m as at,
            count(*) filter (where r.created_at < mm.e and (r.started_at is null or r.started_at >= mm.e)
                               and (r.finished_at is null or r.finished_at >= mm.e))::int as queued,
            count(*) filter (where r.created_at < mm.e and (r.finished_at is null or r.finished_at >= mm.e))::int as in_flight,
            coalesce(extract(epoch from mm.e - min(r.created_at) filter (
              where r.created_at < mm.e and (r.started_at is null or r.started_at >= mm.e)
                and (r.finished_at is null or r.finished_at >= mm.e))), 0)::float8 as oldest,
            count(*) filter (where r.status = 'succeeded' and r.finished_at >= mm.m and r.finished_at < mm.e)::int as succeeded,
            count(*) filter (where r.status = 'failed' and r.finished_at >= mm.m and r.finished_at < mm.e)::int as failed,
            count(*) filter (where r.status = 'dead' and r.finished_at >= mm.m and r.finished_at < mm.e)::int as dead,
            count(*) filter (where r.status = 'canceled' and r.finished_at >= mm.m and r.finished_at < mm.e)::int as canceled
       from minutes mm left join runs r on true
      group by mm.m, mm.e
      order by mm.m`,
    [p.tenantId, p.now],
  );
  return res.rows.map((r) => ({
    at: r.at,
    queued: r.queued,
    inFlight: r.in_flight,
    oldestQueuedSeconds: r.oldest,
    succeeded: r.succeeded,
    failed: r.failed,
    dead: r.dead,
    canceled: r.canceled,
  }));
}

export type ActionDuration = {
  actionId: string;
  actionName: string;
  attempts: number;
  p50Ms: number;
  p95Ms: number;
};

/**
 * Step attempts finished in the hour up to `now`, per action (the step's actionId in its run's
 * version), slowest p95 first. Driven from the runs created in the last day (index) to their
 * step runs (by run): a step of an older run still going is not counted.
 */
export async function selectActionDurations(
  db: Queryable,
  p: { tenantId: TenantId; now: Date; limit: number },
): Promise<ActionDuration[]> {
  const res = await db.query<{
    action_id: string;
    action_name: string;
    attempts: number;
    p50: number;
    p95: number;
  }>(
    `select a.id as action_id, a.name as action_name, count(*)::int as attempts,
            percentile_cont(0.5) within group (order by extract(epoch from s.finished_at - s.started_at) * 1000)::float8 as p50,
            percentile_cont(0.95) within group (order by extract(epoch from s.finished_at - s.started_at) * 1000)::float8 as p95
       from workflow_runs r
       join step_runs s on s.tenant_id = r.tenant_id and s.run_id = r.id
       join workflow_versions v on v.tenant_id = r.tenant_id and v.id = r.workflow_version_id
       join actions a on a.tenant_id = r.tenant_id
        and a.id::text = jsonb_path_query_first(v.definition, '$.steps[*] ? (@.id == $id).actionId',
                                                 jsonb_build_object('id', s.step_id)) #>> '{}'
      where r.tenant_id = $1
        and r.created_at >= $2::timestamptz - interval '1 day'
        and s.finished_at >= $2::timestamptz - interval '1 hour' and s.finished_at <= $2
      group by a.id, a.name
      order by p95 desc
      limit $3`,
    [p.tenantId, p.now, p.limit],
  );
  return res.rows.map((r) => ({
    actionId: r.action_id,
    actionName: r.action_name,
    attempts: r.attempts,
    p50Ms: Math.round(r.p50),
    p95Ms: Math.round(r.p95),
  }));
}

export type RetentionPass = { at: Date; deleted: Record<string, number> };

/** The tenant's last retention pass that removed something (its `retention.purged` event). */
export async function selectLastRetentionPass(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<RetentionPass | null> {
  const res = await db.query<{ occurred_at: Date; deleted: Record<string, number> | null }>(
    `select occurred_at, metadata->'deleted' as deleted from audit_events
      where tenant_id = $1 and action = 'retention.purged'
      order by seq desc limit 1`,
    [p.tenantId],
  );
  const r = res.rows[0];
  return r ? { at: r.occurred_at, deleted: r.deleted ?? {} } : null;
}
