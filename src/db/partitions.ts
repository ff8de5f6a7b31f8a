import type { Queryable } from './pool.ts';
import type { Logger } from '../observability/logger.ts';

/** Tables partitioned by day (migration 0001); retention drops their old partitions. */
export const dailyPartitionedTables = ['execution_logs', 'access_log'] as const;
export type DailyPartitionedTable = (typeof dailyPartitionedTables)[number];

/** Days of partitions kept ready ahead of today, so inserts never land in the default partition. */
const DAYS_AHEAD = 7;
/** How often a long-running process re-checks (a day boundary must never find a gap). */
const MAINTENANCE_INTERVAL_MS = 60 * 60 * 1000;

export async function ensurePartitions(db: Queryable): Promise<number> {
  let made = 0;
  for (const table of dailyPartitionedTables) {
    const res = await db.query<{ made: number }>(
      `select ensure_daily_partitions($1::regclass, (now() at time zone 'UTC')::date - 1, $2) as made`,
      [table, DAYS_AHEAD + 2],
    );
    made += res.rows[0]?.made ?? 0;
  }
  return made;
}

/** Keeps partitions ahead while the process runs; returns a stop function. */
export function startPartitionMaintenance(db: Queryable, logger: Logger): () => void {
  const tick = () => {
    ensurePartitions(db).then(
      (made) => made > 0 && logger.info({ made }, 'log partitions created'),
      (err: unknown) => logger.warn({ err }, 'log partition maintenance failed; will retry'),
    );
  };
  tick();
  const timer = setInterval(tick, MAINTENANCE_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** The days (`YYYY-MM-DD`, UTC) that have a partition of `table`, oldest first. */
export async function listDailyPartitions(
  db: Queryable,
  table: DailyPartitionedTable,
): Promise<string[]> {
  // The catalog is readable by every role; the runtime role reads names, never the partitions.
  const res = await db.query<{ relname: string }>(
    `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = $1::regclass order by c.relname`,
    [table],
  );
  const named = new RegExp(`^${table}_(\\d{4})(\\d{2})(\\d{2})$`);
  return res.rows.flatMap((r) => {
    const m = named.exec(r.relname);
    return m ? [`${m[1]}-${m[2]}-${m[3]}`] : [];
  });
}

export type PartitionDropOutcome = 'dropped' | 'missing' | 'busy';

/**
 * Drops the partition of one day through drop_daily_partition (migration 0006), which refuses a
 * day inside the table's floor and gives up ('busy') rather than queue behind a long query.
 */
export async function dropDailyPartition(
  db: Queryable,
  p: { table: DailyPartitionedTable; day: string },
): Promise<PartitionDropOutcome> {
  const res = await db.query<{ outcome: PartitionDropOutcome }>(
    'select drop_daily_partition($1::regclass, $2::date) as outcome',
    [p.table, p.day],
  );
  return res.rows[0]!.outcome;
}
