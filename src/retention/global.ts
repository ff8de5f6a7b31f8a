/**
 * The part of retention that is not per tenant: day partitions of execution_logs and
 * access_log dropped whole at the operator's cutoff (no row-by-row delete, no vacuum debt), and
 * expired browser sessions (which belong to users, not tenants).
 */
import {
  dailyPartitionedTables,
  dropDailyPartition,
  listDailyPartitions,
  type DailyPartitionedTable,
} from '../db/partitions.ts';
import { countExpiredSessions, deleteExpiredSessions } from '../db/queries/sessions.ts';
import { cutoffFor, type RetentionDefaults } from '../model/retention.ts';
import { ENDED_ACCESS_GRACE_DAYS, type RetentionDeps, type RetentionOptions } from './deps.ts';

const DAY_MS = 86_400_000;

const daysKept: Record<DailyPartitionedTable, keyof RetentionDefaults> = {
  execution_logs: 'executionLogDays',
  access_log: 'accessLogDays',
};

export type PartitionOutcome = {
  dropped: Record<DailyPartitionedTable, string[]>;
  busy: string[];
};

/** Drops each partition whose whole day (UTC) lies before its table's cutoff. */
export async function dropExpiredPartitions(
  deps: RetentionDeps,
  opts: RetentionOptions,
): Promise<PartitionOutcome> {
  const now = deps.clock.now();
  const out: PartitionOutcome = { dropped: { execution_logs: [], access_log: [] }, busy: [] };
  for (const table of dailyPartitionedTables) {
    const cutoff = cutoffFor(now, deps.config.defaults[daysKept[table]]);
    const days = await listDailyPartitions(deps.pool, table);
    for (const day of days.filter((d) => dayEnd(d) <= cutoff.getTime())) {
      if (opts.signal?.aborted) return out;
      if (opts.dryRun) {
        out.dropped[table].push(day);
        continue;
      }
      // One partition per statement (autocommit): the parent's lock is held for an instant.
      const outcome = await dropDailyPartition(deps.pool, { table, day });
      if (outcome === 'dropped') out.dropped[table].push(day);
      if (outcome === 'busy') out.busy.push(`${table}_${day.replaceAll('-', '')}`);
    }
  }
  return out;
}

/** Sessions that expired more than ENDED_ACCESS_GRACE_DAYS ago, in batches. */
export async function purgeExpiredSessions(
  deps: RetentionDeps,
  opts: RetentionOptions,
): Promise<number> {
  const before = cutoffFor(deps.clock.now(), ENDED_ACCESS_GRACE_DAYS);
  if (opts.dryRun) return countExpiredSessions(deps.pool, { before });
  const limit = deps.config.batchSize;
  let total = 0;
  for (;;) {
    const n = await deleteExpiredSessions(deps.pool, { before, limit });
    total += n;
    if (n < limit || opts.signal?.aborted) return total;
  }
}

function dayEnd(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) + DAY_MS;
}
