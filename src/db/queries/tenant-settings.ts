import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';
import { noOverrides, type RetentionOverrides } from '../../model/retention.ts';

export type TenantSettingsRow = { retention: RetentionOverrides; updatedAt: Date | null };

type Raw = {
  run_retention_days: number | null;
  execution_log_retention_days: number | null;
  audit_retention_days: number | null;
  updated_at: Date;
};
const columns =
  'run_retention_days, execution_log_retention_days, audit_retention_days, updated_at';
const map = (r: Raw): TenantSettingsRow => ({
  retention: {
    runDays: r.run_retention_days,
    executionLogDays: r.execution_log_retention_days,
    auditDays: r.audit_retention_days,
  },
  updatedAt: r.updated_at,
});

/** The tenant's settings; a tenant that never saved any gets every default (no row). */
export async function selectTenantSettings(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<TenantSettingsRow> {
  const res = await db.query<Raw>(`select ${columns} from tenant_settings where tenant_id = $1`, [
    p.tenantId,
  ]);
  return res.rows[0] ? map(res.rows[0]) : { retention: noOverrides, updatedAt: null };
}

/** Writes every retention column (null: back to the operator's default). */
export async function upsertTenantRetention(
  db: Queryable,
  p: { tenantId: TenantId; retention: RetentionOverrides },
): Promise<TenantSettingsRow> {
  const res = await db.query<Raw>(
    `insert into tenant_settings
       (tenant_id, run_retention_days, execution_log_retention_days, audit_retention_days)
     values ($1, $2, $3, $4)
     on conflict (tenant_id) do update
        set run_retention_days = excluded.run_retention_days,
            execution_log_retention_days = excluded.execution_log_retention_days,
            audit_retention_days = excluded.audit_retention_days
     returning ${columns}`,
    [p.tenantId, p.retention.runDays, p.retention.executionLogDays, p.retention.auditDays],
  );
  return map(res.rows[0]!);
}
