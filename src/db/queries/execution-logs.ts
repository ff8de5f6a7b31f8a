import type { Queryable } from '../pool.ts';
import type { RunId, StepRunId, TenantId } from '../../model/ids.ts';

export type ExecutionLogInsert = {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data: unknown;
  loggedAt: Date;
};

/** Appends a step's log lines in one statement (unnest, not a loop). */
export async function insertExecutionLogs(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId; stepRunId: StepRunId | null; lines: ExecutionLogInsert[] },
): Promise<number> {
  if (p.lines.length === 0) return 0;
  const res = await db.query(
    `insert into execution_logs (tenant_id, run_id, step_run_id, level, message, data, logged_at)
     select $1, $2, $3, l.level, l.message, l.data::jsonb, l.logged_at
       from unnest($4::text[], $5::text[], $6::text[], $7::timestamptz[])
            as l(level, message, data, logged_at)`,
    [
      p.tenantId,
      p.runId,
      p.stepRunId,
      p.lines.map((l) => l.level),
      p.lines.map((l) => l.message),
      p.lines.map((l) => (l.data === undefined ? null : JSON.stringify(l.data))),
      p.lines.map((l) => l.loggedAt),
    ],
  );
  return res.rowCount ?? 0;
}

/**
 * Appends the log lines of several steps (of one tenant) in one statement: the worker batches
 * the lines of the steps that end together (cli/executor.ts). `relaxDurability`: the commit
 * need not wait for its WAL flush — the lines precede their step's transition, whose durable
 * commit flushes them too (WAL is written in order); a PostgreSQL crash before it loses the
 * lines and the transition alike, and the step runs again and logs again.
 */
export async function insertExecutionLogBatch(
  db: Queryable,
  p: {
    tenantId: TenantId;
    lines: (ExecutionLogInsert & { runId: RunId; stepRunId: StepRunId | null })[];
    relaxDurability: boolean;
  },
): Promise<number> {
  if (p.lines.length === 0) return 0;
  // Named: parsed and planned once per connection, not at each of the hot path's batches.
  const res = await db.query({
    name: 'sy_insert_execution_log_batch',
    text: `insert into execution_logs (tenant_id, run_id, step_run_id, level, message, data, logged_at)
     select $1, l.run_id, l.step_run_id, l.level, l.message, l.data::jsonb, l.logged_at
       from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
            as l(run_id, step_run_id, level, message, data, logged_at)
      where $8::bool is not true or set_config('synchronous_commit', 'off', true) = 'off'`,
    values: [
      p.tenantId,
      p.lines.map((l) => l.runId),
      p.lines.map((l) => l.stepRunId),
      p.lines.map((l) => l.level),
      p.lines.map((l) => l.message),
      p.lines.map((l) => (l.data === undefined ? null : JSON.stringify(l.data))),
      p.lines.map((l) => l.loggedAt),
      p.relaxDurability,
    ],
  });
  return res.rowCount ?? 0;
}

export type ExecutionLogRow = {
  id: string;
  level: string;
  message: string;
  data: unknown;
  loggedAt: Date;
  stepRunId: StepRunId | null;
};

/**
 * A run's log lines in order; `after` (the last line seen) pages forward, `search` keeps the
 * lines whose message contains it (case-insensitive, taken literally).
 */
export async function selectExecutionLogs(
  db: Queryable,
  p: {
    tenantId: TenantId;
    runId: RunId;
    limit: number;
    after?: { loggedAt: Date; id: string } | null;
    search?: string | null;
  },
): Promise<ExecutionLogRow[]> {
  const res = await db.query<{
    id: string;
    level: string;
    message: string;
    data: unknown;
    logged_at: Date;
    step_run_id: StepRunId | null;
  }>(
    `select id::text, level, message, data, logged_at, step_run_id from execution_logs
      where tenant_id = $1 and run_id = $2
        and ($4::timestamptz is null or (logged_at, id) > ($4, $5::bigint))
        and ($6::text is null or message ilike '%' || $6 || '%')
      order by logged_at, id limit $3`,
    [
      p.tenantId,
      p.runId,
      p.limit,
      p.after?.loggedAt ?? null,
      p.after?.id ?? null,
      p.search ? p.search.replace(/[\\%_]/g, (c) => `\\${c}`) : null,
    ],
  );
  return res.rows.map((r) => ({
    id: r.id,
    level: r.level,
    message: r.message,
    data: r.data,
    loggedAt: r.logged_at,
    stepRunId: r.step_run_id,
  }));
}

export type ExecutionLogSearch = {
  /** Taken literally, case-insensitive, anywhere in the message. */
  text: string | null;
  levels: string[] | null;
  workflowId: string | null;
  /** A step's id in the definition. */
  stepId: string | null;
  runId: string | null;
  from: Date | null;
  to: Date | null;
};

export type ExecutionLogHit = ExecutionLogRow & {
  runId: RunId;
  workflowId: string;
  stepId: string | null;
  /** logged_at to the microsecond, for the cursor. */
  loggedKey: string;
};

/**
 * Log lines across the tenant's runs, newest first, keyset-paged on (logged_at, id). The time
 * range prunes day partitions and bounds the primary key (tenant_id, logged_at, id); a run id
 * uses execution_logs_run_idx; the workflow and step filters are sets of run and step ids
 * (hashed once); the run and step of each hit are joined only for the page. 100,000 lines with
 * a text found nowhere: 60 to 150 ms (test/integration/api-execution-log-search.test.ts).
 *
 * No trigram or full-text index on the message: under forced row security a condition whose
 * operator is not leakproof (ilike, @@, pg_trgm's; only a superuser can mark one leakproof)
 * cannot be an index condition, so such an index is never used by the runtime role (measured:
 * a sequential scan for it, a bitmap index scan on the same query as the owner).
 */
export async function searchExecutionLogs(
  db: Queryable,
  p: {
    tenantId: TenantId;
    filter: ExecutionLogSearch;
    after: { loggedKey: string; id: string } | null;
    limit: number;
  },
): Promise<ExecutionLogHit[]> {
  const f = p.filter;
  const res = await db.query<{
    id: string;
    level: string;
    message: string;
    data: unknown;
    logged_at: Date;
    logged_key: string;
    step_run_id: StepRunId | null;
    run_id: RunId;
    workflow_id: string;
    step_id: string | null;
  }>(
    `with hits as (
       select l.id, l.level, l.message, l.data, l.logged_at, l.step_run_id, l.run_id
         from execution_logs l
        where l.tenant_id = $1
          and ($2::text is null or l.message ilike '%' || $2 || '%')
          and ($3::text[] is null or l.level = any($3))
          and ($4::uuid is null or l.run_id in (
                select r.id from workflow_runs r where r.tenant_id = $1 and r.workflow_id = $4))
          and ($5::text is null or l.step_run_id in (
                select s.id from step_runs s where s.tenant_id = $1 and s.step_id = $5))
          and ($6::uuid is null or l.run_id = $6)
          and ($7::timestamptz is null or l.logged_at >= $7)
          and ($8::timestamptz is null or l.logged_at < $8)
          and ($9::timestamptz is null or (l.logged_at, l.id) < ($9, $10::bigint))
        order by l.logged_at desc, l.id desc
        limit $11)
     select l.id::text, l.level, l.message, l.data, l.logged_at, l.step_run_id, l.run_id,
            to_char(l.logged_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as logged_key,
            r.workflow_id, s.step_id
       from hits l
       join workflow_runs r on r.tenant_id = $1 and r.id = l.run_id
       left join step_runs s on s.tenant_id = $1 and s.id = l.step_run_id
      order by l.logged_at desc, l.id desc`,
    [
      p.tenantId,
      f.text ? f.text.replace(/[\\%_]/g, (c) => `\\${c}`) : null,
      f.levels,
      f.workflowId,
      f.stepId,
      f.runId,
      f.from,
      f.to,
      p.after?.loggedKey ?? null,
      p.after?.id ?? null,
      p.limit,
    ],
  );
  return res.rows.map((r) => ({
    id: r.id,
    level: r.level,
    message: r.message,
    data: r.data,
    loggedAt: r.logged_at,
    loggedKey: r.logged_key,
    stepRunId: r.step_run_id,
    runId: r.run_id,
    workflowId: r.workflow_id,
    stepId: r.step_id,
  }));
}

/**
 * Retention for a tenant that keeps its logs for less than the operator's cutoff (older day
 * partitions are dropped whole instead): up to `limit` of its lines logged before `before`.
 */
export async function deleteExecutionLogsBefore(
  db: Queryable,
  p: { tenantId: TenantId; before: Date; limit: number },
): Promise<number> {
  const res = await db.query(
    `delete from execution_logs where tenant_id = $1 and (logged_at, id) in (
       select logged_at, id from execution_logs where tenant_id = $1 and logged_at < $2 limit $3)`,
    [p.tenantId, p.before, p.limit],
  );
  return res.rowCount ?? 0;
}

export async function countExecutionLogsBefore(
  db: Queryable,
  p: { tenantId: TenantId; before: Date },
): Promise<number> {
  const res = await db.query<{ n: number }>(
    `select count(*)::int as n from execution_logs where tenant_id = $1 and logged_at < $2`,
    [p.tenantId, p.before],
  );
  return res.rows[0]?.n ?? 0;
}
