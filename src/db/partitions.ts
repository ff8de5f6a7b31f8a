import type { Queryable } from './pool.ts';
import type { Logger } from '../observability/logger.ts';

/** Tables partitioned by day (migration 0001); retention drops their old partitions. */
export const dailyPartitionedTables = ['execution_logs', 'access_log'] as const;

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
