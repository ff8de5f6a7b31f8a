/**
 * A tenant's settings (product.md: "Tenant — has settings (limits, retention)"). Today:
 * retention, as days per kind of data; null keeps the operator's RETENTION_*_DAYS. Changes are
 * validated here with messages that say what is allowed, checked again by the database, and
 * audited in the same transaction.
 */
import type { Queryable } from '../db/pool.ts';
import { selectTenantSettings, upsertTenantRetention } from '../db/queries/tenant-settings.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { TenantId } from '../model/ids.ts';
import {
  effectiveRetention,
  retentionBounds,
  type RetentionDefaults,
  type RetentionOverrides,
} from '../model/retention.ts';
import { recordAudit, type AuditInput } from '../observability/audit.ts';

export type TenantSettingsView = {
  /** The operator's defaults (RETENTION_*_DAYS). */
  defaults: RetentionDefaults;
  /** The tenant's own values (null: the default applies). */
  overrides: RetentionOverrides;
  /** What retention applies to this tenant. */
  effective: RetentionDefaults;
  updatedAt: Date | null;
};

/** Fields left out stay as they are; null goes back to the operator's default. */
export type RetentionChanges = { [K in keyof RetentionOverrides]?: number | null | undefined };

export type SettingsActor = Pick<AuditInput, 'actorKind' | 'actorId' | 'ip' | 'requestId'>;

export async function readTenantSettings(
  db: Queryable,
  p: { tenantId: TenantId; defaults: RetentionDefaults },
): Promise<TenantSettingsView> {
  const row = await selectTenantSettings(db, { tenantId: p.tenantId });
  return view(p.defaults, row.retention, row.updatedAt);
}

export async function updateTenantRetention(
  db: Queryable,
  p: {
    tenantId: TenantId;
    defaults: RetentionDefaults;
    changes: RetentionChanges;
    actor: SettingsActor;
  },
): Promise<TenantSettingsView> {
  const before = (await selectTenantSettings(db, { tenantId: p.tenantId })).retention;
  const next: RetentionOverrides = { ...before };
  for (const key of Object.keys(retentionLimits) as Array<keyof RetentionOverrides>) {
    const value = p.changes[key];
    if (value === undefined) continue;
    if (value !== null) assertInRange(key, value, maxDaysFor(key, p.defaults));
    next[key] = value;
  }
  const saved = await upsertTenantRetention(db, { tenantId: p.tenantId, retention: next });
  const changed = Object.fromEntries(
    (Object.keys(next) as Array<keyof RetentionOverrides>)
      .filter((k) => next[k] !== before[k])
      .map((k) => [k, { from: before[k], to: next[k] }]),
  );
  await recordAudit(db, {
    tenantId: p.tenantId,
    ...p.actor,
    action: 'tenant.settings_updated',
    targetKind: 'tenant',
    targetId: p.tenantId,
    metadata: { retention: changed },
  });
  return view(p.defaults, saved.retention, saved.updatedAt);
}

/** What each tenant-settable kind is called in messages, and its variable. */
const retentionLimits: Record<keyof RetentionOverrides, { what: string; variable: string }> = {
  runDays: { what: 'Finished runs', variable: 'RETENTION_RUN_DAYS' },
  executionLogDays: { what: 'Execution logs', variable: 'RETENTION_EXECUTION_LOG_DAYS' },
  auditDays: { what: 'Audit events', variable: 'RETENTION_AUDIT_DAYS' },
};

/**
 * The most days a tenant may ask for. Execution logs are dropped with their day partition at
 * the operator's cutoff, so a tenant can only shorten their retention.
 */
export function maxDaysFor(key: keyof RetentionOverrides, defaults: RetentionDefaults): number {
  return key === 'executionLogDays' ? defaults.executionLogDays : retentionBounds[key].max;
}

function assertInRange(key: keyof RetentionOverrides, value: number, max: number): void {
  const { min } = retentionBounds[key];
  if (Number.isInteger(value) && value >= min && value <= max) return;
  const { what, variable } = retentionLimits[key];
  const why =
    key === 'executionLogDays'
      ? ` (this server drops them after ${variable}=${max} days, so a tenant can only shorten it)`
      : key === 'auditDays'
        ? ' (the audit trail is a compliance record: at least 30 days)'
        : '';
  throw new SwitchyardError(
    'E_VALIDATION',
    `${what} can be kept ${min} to ${max} days${why}; got ${value}. Pass null to use the server's default.`,
    { field: `retention.${key}` },
  );
}

function view(
  defaults: RetentionDefaults,
  overrides: RetentionOverrides,
  updatedAt: Date | null,
): TenantSettingsView {
  return { defaults, overrides, effective: effectiveRetention(defaults, overrides), updatedAt };
}
