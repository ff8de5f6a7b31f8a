/**
 * Retention's statements on tables whose own query files belong to the engine (workflow_runs
 * and its dependants, idempotency_keys): what is deleted, and what a dry run counts.
 */
import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';

export type RunPurgeCounts = {
  workflowRuns: number;
  stepRuns: number;
  deadLetters: number;
  jobs: number;
};

type RawCounts = { runs: number; step_runs: number; dead_letters: number; jobs: number };
const toCounts = (r: RawCounts | undefined): RunPurgeCounts => ({
  workflowRuns: r?.runs ?? 0,
  stepRuns: r?.step_runs ?? 0,
  deadLetters: r?.dead_letters ?? 0,
  jobs: r?.jobs ?? 0,
});

/**
 * Runs that finished before the cutoff. A run finishes after it is created, so the
 * (tenant_id, created_at) index narrows the search; queued, running and waiting runs never
 * match.
 */
const finishedBefore = `
  select id from workflow_runs
   where tenant_id = $1 and created_at < $2
     and status in ('succeeded', 'failed', 'canceled', 'dead')
     and coalesce(finished_at, updated_at) < $2`;

/**
 * Deletes up to `limit` runs that finished before `before`, with their step runs, dead letters
 * and any leftover job, in one statement (the foreign keys would cascade; deleting explicitly
 * counts each table). SKIP LOCKED: a run someone holds (a replay) waits for the next pass, and
 * two retention passes never pick the same run.
 */
export async function deleteFinishedRuns(
  db: Queryable,
  p: { tenantId: TenantId; before: Date; limit: number },
): Promise<RunPurgeCounts> {
  const res = await db.query<RawCounts>(
    `with doomed as (${finishedBefore} order by created_at limit $3 for update skip locked),
     steps as (
       delete from step_runs s using doomed d where s.tenant_id = $1 and s.run_id = d.id returning 1),
     letters as (
       delete from dead_letters l using doomed d where l.tenant_id = $1 and l.run_id = d.id returning 1),
     queued as (
       delete from jobs j using doomed d where j.tenant_id = $1 and j.run_id = d.id returning 1),
     runs as (
       delete from workflow_runs r using doomed d where r.tenant_id = $1 and r.id = d.id returning 1)
     select (select count(*) from runs)::int as runs, (select count(*) from steps)::int as step_runs,
            (select count(*) from letters)::int as dead_letters, (select count(*) from queued)::int as jobs`,
    [p.tenantId, p.before, p.limit],
  );
  return toCounts(res.rows[0]);
}

/**
 * The same for test runs (testWorkflow), on their own, shorter cut-off: the partial index on
 * test runs finds them without walking the tenant's other runs.
 */
export async function deleteFinishedTestRuns(
  db: Queryable,
  p: { tenantId: TenantId; before: Date; limit: number },
): Promise<RunPurgeCounts> {
  const res = await db.query<RawCounts>(
    `with doomed as (${finishedBefore} and is_test order by created_at limit $3 for update skip locked),
     steps as (
       delete from step_runs s using doomed d where s.tenant_id = $1 and s.run_id = d.id returning 1),
     queued as (
       delete from jobs j using doomed d where j.tenant_id = $1 and j.run_id = d.id returning 1),
     runs as (
       delete from workflow_runs r using doomed d where r.tenant_id = $1 and r.id = d.id returning 1)
     select (select count(*) from runs)::int as runs, (select count(*) from steps)::int as step_runs,
            0 as dead_letters, (select count(*) from queued)::int as jobs`,
    [p.tenantId, p.before, p.limit],
  );
  return toCounts(res.rows[0]);
}

/** What deleteFinishedTestRuns would remove in total (for a dry run). */
export async function countFinishedTestRuns(
  db: Queryable,
  p: { tenantId: TenantId; before: Date },
): Promise<RunPurgeCounts> {
  const res = await db.query<RawCounts>(
    `with doomed as (${finishedBefore} and is_test)
     select (select count(*) from doomed)::int as runs,
            (select count(*) from step_runs s join doomed d on s.run_id = d.id where s.tenant_id = $1)::int as step_runs,
            0 as dead_letters,
            (select count(*) from jobs j join doomed d on j.run_id = d.id where j.tenant_id = $1)::int as jobs`,
    [p.tenantId, p.before],
  );
  return toCounts(res.rows[0]);
}

/** What deleteFinishedRuns would remove in total (for a dry run). */
export async function countFinishedRuns(
  db: Queryable,
  p: { tenantId: TenantId; before: Date },
): Promise<RunPurgeCounts> {
  const res = await db.query<RawCounts>(
    `with doomed as (${finishedBefore})
     select (select count(*) from doomed)::int as runs,
            (select count(*) from step_runs s join doomed d on s.run_id = d.id where s.tenant_id = $1)::int as step_runs,
            (select count(*) from dead_letters l join doomed d on l.run_id = d.id where l.tenant_id = $1)::int as dead_letters,
            (select count(*) from jobs j join doomed d on j.run_id = d.id where j.tenant_id = $1)::int as jobs`,
    [p.tenantId, p.before],
  );
  return toCounts(res.rows[0]);
}

/** Idempotency keys past their TTL (deleteExpiredIdempotencyKeys removes them). */
export async function countExpiredIdempotencyKeys(
  db: Queryable,
  p: { tenantId: TenantId; now: Date },
): Promise<number> {
  const res = await db.query<{ n: number }>(
    `select count(*)::int as n from idempotency_keys where tenant_id = $1 and expires_at <= $2`,
    [p.tenantId, p.now],
  );
  return res.rows[0]?.n ?? 0;
}
