import { z } from 'zod';
import { retentionBounds, type RetentionDefaults } from '../model/retention.ts';
import { positiveInt } from './env.ts';

const days = (fallback: number, bounds: { min: number; max: number }) =>
  z.coerce
    .number({ error: `expected a whole number of days from ${bounds.min} to ${bounds.max}` })
    .int(`expected a whole number of days from ${bounds.min} to ${bounds.max}`)
    .min(bounds.min, `expected at least ${bounds.min} days`)
    .max(bounds.max, `expected at most ${bounds.max} days`)
    .default(fallback);

export const retentionSchema = z.object({
  RETENTION_RUN_DAYS: days(90, retentionBounds.runDays),
  RETENTION_EXECUTION_LOG_DAYS: days(30, retentionBounds.executionLogDays),
  // The access history answers "who read what, when" long after the fact (an auditor's
  // question, product.md): kept as long as the audit trail by default.
  RETENTION_ACCESS_LOG_DAYS: days(365, retentionBounds.accessLogDays),
  RETENTION_AUDIT_DAYS: days(365, retentionBounds.auditDays),
  RETENTION_INTERVAL_MS: z.coerce
    .number({ error: 'expected a whole number of milliseconds (0 turns scheduling off)' })
    .int('expected a whole number of milliseconds (0 turns scheduling off)')
    .min(0, 'expected a whole number of milliseconds (0 turns scheduling off)')
    .default(3_600_000),
  RETENTION_BATCH_SIZE: positiveInt(500, 10_000),
  // Test runs of drafts (testWorkflow) answer "does my draft work?" within minutes; a day
  // covers a builder coming back to it, and keeps real responses they hold from piling up.
  RETENTION_TEST_RUN_HOURS: z.coerce
    .number({ error: 'expected a whole number of hours from 1 to 720' })
    .int('expected a whole number of hours from 1 to 720')
    .min(1, 'expected at least 1 hour')
    .max(720, 'expected at most 720 hours')
    .default(24),
});

export type RetentionConfig = {
  defaults: RetentionDefaults;
  /** How often `start` and `scheduler` run retention; 0: never (run it from the CLI). */
  intervalMs: number;
  /** Rows deleted per transaction: each batch is a short transaction with short row locks. */
  batchSize: number;
  /** Hours a finished test run (and the draft it tested) is kept, whatever the run retention. */
  testRunHours: number;
};

export function toRetentionConfig(env: z.infer<typeof retentionSchema>): RetentionConfig {
  return {
    defaults: {
      runDays: env.RETENTION_RUN_DAYS,
      executionLogDays: env.RETENTION_EXECUTION_LOG_DAYS,
      accessLogDays: env.RETENTION_ACCESS_LOG_DAYS,
      auditDays: env.RETENTION_AUDIT_DAYS,
    },
    intervalMs: env.RETENTION_INTERVAL_MS,
    batchSize: env.RETENTION_BATCH_SIZE,
    testRunHours: env.RETENTION_TEST_RUN_HOURS,
  };
}

/** Defaults, for tests and tools that run retention without the environment. */
export function defaultRetentionConfig(overrides: Partial<RetentionConfig> = {}): RetentionConfig {
  return { ...toRetentionConfig(retentionSchema.parse({})), ...overrides };
}
