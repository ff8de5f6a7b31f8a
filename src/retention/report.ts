/** What one retention run removed (or, in a dry run, would remove), per table. */
import type { DailyPartitionedTable } from '../db/partitions.ts';

export type RetentionCounts = {
  workflowRuns: number;
  stepRuns: number;
  deadLetters: number;
  jobs: number;
  idempotencyKeys: number;
  invitations: number;
  executionLogs: number;
  auditEvents: number;
  sessions: number;
};

/** Table names for output and metric labels. */
export const countedTables: Record<keyof RetentionCounts, string> = {
  workflowRuns: 'workflow_runs',
  stepRuns: 'step_runs',
  deadLetters: 'dead_letters',
  jobs: 'jobs',
  idempotencyKeys: 'idempotency_keys',
  invitations: 'invitations',
  executionLogs: 'execution_logs',
  auditEvents: 'audit_events',
  sessions: 'sessions',
};

export function emptyCounts(): RetentionCounts {
  return {
    workflowRuns: 0,
    stepRuns: 0,
    deadLetters: 0,
    jobs: 0,
    idempotencyKeys: 0,
    invitations: 0,
    executionLogs: 0,
    auditEvents: 0,
    sessions: 0,
  };
}

export function addCounts(into: RetentionCounts, more: Partial<RetentionCounts>): void {
  for (const [k, v] of Object.entries(more) as Array<[keyof RetentionCounts, number]>) {
    into[k] += v;
  }
}

export function totalOf(c: RetentionCounts): number {
  return Object.values(c).reduce((a, b) => a + b, 0);
}

export type RetentionReport = {
  dryRun: boolean;
  /** 'locked': another process was running retention, so this one did nothing. */
  skipped: 'locked' | null;
  /** The instant cutoffs were computed from (audit cutoffs use the database's clock). */
  now: string;
  tenants: number;
  deleted: RetentionCounts;
  /** Days (`YYYY-MM-DD`) whose partition was dropped (or would be, in a dry run). */
  droppedPartitions: Record<DailyPartitionedTable, string[]>;
  /** Partitions left for the next run because their table was busy (lock_timeout). */
  busyPartitions: string[];
  /**
   * Tenants whose clean-up failed (or `tenants`: listing them; `global`: partitions and
   * sessions); the next run retries them.
   */
  failures: Array<{ scope: string; message: string }>;
  durationMs: number;
};
