/** What the retention job receives explicitly (no globals): time is injected for tests. */
import type pg from 'pg';
import type { RetentionConfig } from '../config/retention.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';

export type RetentionMetrics = Pick<
  Metrics,
  'retentionDeletedRows' | 'retentionDroppedPartitions' | 'retentionLastSuccess'
>;

export type RetentionDeps = {
  /** The runtime pool: every deletion runs under RLS or through a reviewed function. */
  pool: pg.Pool;
  config: RetentionConfig;
  logger: Logger;
  clock: { now(): Date };
  /** Absent in processes that serve no /metrics (the scheduler, the CLI). */
  metrics?: RetentionMetrics;
};

export type RetentionOptions = {
  /** Count what would go; change nothing. */
  dryRun: boolean;
  /** Stops between batches (shutdown); what was done stays done. */
  signal?: AbortSignal;
};

/**
 * Ended invitations and expired sessions are kept this long after they ended: long enough for
 * the UI to show an invitation as expired and for an investigation of a recent sign-in to find
 * its session row; after that they are of no use to anyone.
 */
export const ENDED_ACCESS_GRACE_DAYS = 30;
