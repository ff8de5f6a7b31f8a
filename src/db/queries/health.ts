/**
 * The health dashboard's reads (GraphQL systemHealth), one statement each, all for one tenant
 * and run under withTenant: row security keeps another tenant's rows out even if a WHERE clause
 * were wrong. Read-only figures that join several tables, so they live together here rather
 * than in each table's file.
 *
 * History comes from rows the engine already writes, not from a sampling table: runs keep
 * created_at, started_at and finished_at, so how many runs waited (and since when) at any
 * minute of the last hour can be recomputed exactly, with no writer to keep alive and no extra
 * table to purge. The queue itself (jobs) keeps no history, so its figures are "now" only.
 */
import type { Queryable } from '../pool.ts';
import type { ActionId, RunId, TenantId, WorkflowId } from '../../model/ids.ts';

export type TenantQueueNow = {
  /** Pending jobs due now (waiting for a worker). */
  due: number;
  /** Pending jobs due later: a retry's backoff, a rate-limit or circuit-breaker deferral. */
  delayed: number;
  /** Jobs a worker holds. */
  running: number;
  /** Seconds the oldest due job has waited; 0 when none is due. */
  oldestDueSeconds: number;
};

export async function selectTenantQueueNow(
  db: Queryable,
  p: { tenantId: TenantId; now: Date },
): Promise<TenantQueueNow> {
  const res = await db.query<{ due: number; delayed: number; running: number; oldest: number }>(
    `select count(*) filter (where status = 'pending' and run_at <= $2)::int as due,
            count(*) filter (where status = 'pending' and run_at > $2)::int as delayed,
            count(*) filter (where status = 'running')::int as running,
            coalesce(extract(epoch from $2::timestamptz
              - min(run_at) filter (where status = 'pending' and run_at <= $2)), 0)::float8 as oldest
       from jobs where tenant_id = $1`,
    [p.tenantId, p.now],
  );
  const r = res.rows[0]!;
  return {
    due: r.due,
    delayed: r.delayed,
    running: r.running,
    oldestDueSeconds: Math.max(0, r.oldest),
  };
}

export type BacklogPoint = {
  at: Date;
  /** Runs created but not started yet at `at`. */
  waiting: number;
  /** Runs created and not finished at `at` (waiting or running). */
  inFlight: number;
  /** Seconds the oldest waiting run had waited at `at`; 0 when none. */
  oldestWaitingSeconds: number;
};

/**
 * One point per minute boundary from `since` to `now`, recomputed from the runs' timestamps. A
 * run counts at the boundaries it spans (generated per run, so the cost follows the run-minutes
 * that exist, not runs times sixty): in flight from created_at until finished_at, waiting until
 * started_at. Runs that start and end within one minute touch no boundary and cost one row each.
 */
export async function selectRunBacklogByMinute(
  db: Queryable,
  p: { tenantId: TenantId; since: Date; now: Date },
): Promise<BacklogPoint[]> {
  const res = await db.query<{ at: Date; waiting: number; in_flight: number; oldest: number }>(
    `with m as (
       select generate_series(date_trunc('minute', $2::timestamptz) + interval '1 minute',
                              $3::timestamptz, interval '1 minute') as at),
     r as (
       select created_at, started_at, finished_at from workflow_runs
        where tenant_id = $1 and created_at <= $3 and not is_test
          and (status in ('queued', 'running', 'waiting') or finished_at > $2)),
     spans as (
       select g.at, r.created_at, (r.started_at is null or r.started_at > g.at) as waiting
         from r, generate_series(
           greatest(date_trunc('minute', $2::timestamptz) + interval '1 minute',
                    date_trunc('minute', r.created_at)
                      + case when r.created_at > date_trunc('minute', r.created_at)
                             then interval '1 minute' else interval '0' end),
           least(coalesce(r.finished_at - interval '1 microsecond', $3::timestamptz),
                 $3::timestamptz),
           interval '1 minute') g(at))
     select m.at,
            count(s.created_at) filter (where s.waiting)::int as waiting,
            count(s.created_at)::int as in_flight,
            coalesce(extract(epoch from m.at - min(s.created_at) filter (where s.waiting)), 0)::float8
              as oldest
       from m left join spans s on s.at = m.at
      group by m.at order by m.at`,
    [p.tenantId, p.since, p.now],
  );
  return res.rows.map((r) => ({
    at: r.at,
    waiting: r.waiting,
    inFlight: r.in_flight,
    oldestWaitingSeconds: r.oldest,
  }));
}

export type FinishedRunCount = { minute: Date; status: string; count: number };

/** Runs that ended in (since, now], per minute and final status. */
export async function countFinishedRunsByMinute(
  db: Queryable,
  p: { tenantId: TenantId; since: Date; now: Date },
): Promise<FinishedRunCount[]> {
  const res = await db.query<{ minute: Date; status: string; n: number }>(
    `select date_trunc('minute', finished_at) as minute, status, count(*)::int as n
       from workflow_runs
      where tenant_id = $1 and finished_at > $2 and finished_at <= $3 and not is_test
      group by 1, 2 order by 1, 2`,
    [p.tenantId, p.since, p.now],
  );
  return res.rows.map((r) => ({ minute: r.minute, status: r.status, count: r.n }));
}

export type ActionDuration = {
  actionId: ActionId;
  appKey: string;
  actionKey: string;
  actionName: string;
  attempts: number;
  p95Ms: number;
};

/**
 * p95 of step attempts that ended (succeeded or failed) in (since, now], per action: a step's
 * action is read from the definition of the version its run executed. Slowest first.
 */
export async function selectStepDurationP95ByAction(
  db: Queryable,
  p: { tenantId: TenantId; since: Date; now: Date; limit: number },
): Promise<ActionDuration[]> {
  const res = await db.query<{
    action_id: ActionId;
    app_key: string;
    action_key: string;
    action_name: string;
    attempts: number;
    p95: number;
  }>(
    `select a.id as action_id, ap.key as app_key, a.key as action_key, a.name as action_name,
            count(*)::int as attempts,
            percentile_cont(0.95) within group (
              order by extract(epoch from s.finished_at - s.started_at) * 1000)::float8 as p95
       from step_runs s
       join workflow_runs r on r.tenant_id = s.tenant_id and r.id = s.run_id
       join workflow_versions v on v.tenant_id = r.tenant_id and v.id = r.workflow_version_id
       join lateral (select e ->> 'actionId' as action_id
                       from jsonb_array_elements(v.definition -> 'steps') e
                      where e ->> 'id' = s.step_id limit 1) d on true
       join actions a on a.tenant_id = s.tenant_id and a.id::text = d.action_id
       join apps ap on ap.tenant_id = a.tenant_id and ap.id = a.app_id
      where s.tenant_id = $1 and s.finished_at > $2 and s.finished_at <= $3
        and s.status in ('succeeded', 'failed') and not r.is_test
      group by a.id, ap.key, a.key, a.name
      order by p95 desc, ap.key, a.key limit $4`,
    [p.tenantId, p.since, p.now, p.limit],
  );
  return res.rows.map((r) => ({
    actionId: r.action_id,
    appKey: r.app_key,
    actionKey: r.action_key,
    actionName: r.action_name,
    attempts: r.attempts,
    p95Ms: Math.round(r.p95),
  }));
}

export type HeldJob = {
  workerId: string;
  leaseExpiresAt: Date;
  runId: RunId;
  workflowId: WorkflowId;
  workflowName: string;
  stepId: string;
};

/**
 * The tenant's jobs under a live lease, with the worker holding each. There is no worker
 * registry: a worker is alive for this view when it holds a lease that has not expired (it
 * extends its leases while it works; a dead one's expire and are requeued).
 */
export async function selectHeldJobs(
  db: Queryable,
  p: { tenantId: TenantId; now: Date; limit: number },
): Promise<HeldJob[]> {
  const res = await db.query<{
    locked_by: string;
    lease_expires_at: Date;
    run_id: RunId;
    workflow_id: WorkflowId;
    workflow_name: string;
    step_id: string | null;
  }>(
    `select j.locked_by, j.lease_expires_at, j.run_id, r.workflow_id, w.name as workflow_name,
            v.definition -> 'steps' -> j.step_index ->> 'id' as step_id
       from jobs j
       join workflow_runs r on r.tenant_id = j.tenant_id and r.id = j.run_id
       join workflows w on w.tenant_id = r.tenant_id and w.id = r.workflow_id
       join workflow_versions v on v.tenant_id = r.tenant_id and v.id = r.workflow_version_id
      where j.tenant_id = $1 and j.status = 'running' and j.locked_by is not null
        and j.lease_expires_at > $2
      order by j.locked_by, j.lease_expires_at limit $3`,
    [p.tenantId, p.now, p.limit],
  );
  return res.rows.map((r) => ({
    workerId: r.locked_by,
    leaseExpiresAt: r.lease_expires_at,
    runId: r.run_id,
    workflowId: r.workflow_id,
    workflowName: r.workflow_name,
    stepId: r.step_id ?? '',
  }));
}

export type WaitingRunRow = {
  runId: RunId;
  workflowId: WorkflowId;
  workflowName: string;
  until: Date;
  /** The code of the run's last logged error (why it waits), if any. */
  lastErrorCode: string | null;
};

/** Runs whose next step is due later (soonest first), as WorkflowRun.waiting sees them. */
export async function selectWaitingRuns(
  db: Queryable,
  p: { tenantId: TenantId; now: Date; limit: number },
): Promise<WaitingRunRow[]> {
  const res = await db.query<{
    run_id: RunId;
    workflow_id: WorkflowId;
    workflow_name: string;
    run_at: Date;
    code: string | null;
  }>(
    `select j.run_id, r.workflow_id, w.name as workflow_name, j.run_at,
            (select l.data -> 'data' ->> 'code' from execution_logs l
              where l.tenant_id = j.tenant_id and l.run_id = j.run_id
                and l.data -> 'data' ? 'code'
              order by l.logged_at desc, l.id desc limit 1) as code
       from jobs j
       join workflow_runs r on r.tenant_id = j.tenant_id and r.id = j.run_id
       join workflows w on w.tenant_id = r.tenant_id and w.id = r.workflow_id
      where j.tenant_id = $1 and j.status = 'pending' and j.run_at > $2
      order by j.run_at, j.run_id limit $3`,
    [p.tenantId, p.now, p.limit],
  );
  return res.rows.map((r) => ({
    runId: r.run_id,
    workflowId: r.workflow_id,
    workflowName: r.workflow_name,
    until: r.run_at,
    lastErrorCode: r.code,
  }));
}

export type RetentionPass = { at: Date; deleted: Record<string, number> };

/**
 * Retention's last pass that removed something for the tenant (its audit event; passes that
 * found nothing to remove are not audited, see retention/tenant.ts).
 */
export async function selectLastRetentionPass(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<RetentionPass | null> {
  const res = await db.query<{ occurred_at: Date; deleted: Record<string, number> | null }>(
    `select occurred_at, metadata -> 'deleted' as deleted from audit_events
      where tenant_id = $1 and action = 'retention.purged'
      order by occurred_at desc limit 1`,
    [p.tenantId],
  );
  const r = res.rows[0];
  return r ? { at: r.occurred_at, deleted: r.deleted ?? {} } : null;
}
