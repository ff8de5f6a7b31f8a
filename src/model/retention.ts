/**
 * The retention policy's vocabulary, shared by the configuration, the tenant settings API and
 * the retention job. The bounds are also enforced by the database (migration 0006): a CHECK on
 * tenant_settings and floors inside the functions that purge audit events and drop partitions.
 */

/** Days kept per kind of data, as the operator configured them (RETENTION_*_DAYS). */
export type RetentionDefaults = {
  runDays: number;
  executionLogDays: number;
  accessLogDays: number;
  auditDays: number;
};

/** A tenant's own values; null keeps the operator's default. */
export type RetentionOverrides = {
  runDays: number | null;
  executionLogDays: number | null;
  auditDays: number | null;
};

export type RetentionKind = keyof RetentionDefaults;

/**
 * Smallest and largest number of days each kind may be kept. Access history and audit events
 * are compliance records: no setting can keep them for less than 30 days. The database refuses
 * the same floors, so a bug (or a compromised runtime role) cannot purge more.
 */
export const retentionBounds = {
  runDays: { min: 1, max: 3650 },
  executionLogDays: { min: 1, max: 3650 },
  accessLogDays: { min: 30, max: 3650 },
  auditDays: { min: 30, max: 3650 },
} as const satisfies Record<RetentionKind, { min: number; max: number }>;

/**
 * What a tenant actually gets. Execution logs live in day partitions that are dropped whole at
 * the operator's cutoff, so a tenant can shorten their retention but not lengthen it; runs and
 * audit events are deleted per tenant, so either direction works. Access history is global.
 */
export function effectiveRetention(
  defaults: RetentionDefaults,
  overrides: RetentionOverrides,
): RetentionDefaults {
  return {
    runDays: overrides.runDays ?? defaults.runDays,
    executionLogDays: Math.min(
      overrides.executionLogDays ?? defaults.executionLogDays,
      defaults.executionLogDays,
    ),
    accessLogDays: defaults.accessLogDays,
    auditDays: overrides.auditDays ?? defaults.auditDays,
  };
}

export const noOverrides: RetentionOverrides = {
  runDays: null,
  executionLogDays: null,
  auditDays: null,
};

const DAY_MS = 86_400_000;

/** The instant before which data kept `days` days is due for removal. */
export function cutoffFor(now: Date, days: number): Date {
  return new Date(now.getTime() - days * DAY_MS);
}
