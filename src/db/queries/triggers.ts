import type { Queryable } from '../pool.ts';
import type { TenantId, TriggerId, WorkflowId } from '../../model/ids.ts';

export type DueCronTrigger = {
  tenantId: TenantId;
  id: TriggerId;
  workflowId: WorkflowId;
  expression: string;
  timezone: string | null;
  /** Null for a trigger the scheduler has not planned yet. */
  nextFireAt: Date | null;
};

/**
 * Locks one due (or not yet planned) cron trigger (system scope). SKIP LOCKED: any number of
 * schedulers each take different triggers; the lock is held until the fire commits.
 */
export async function lockDueCronTrigger(
  db: Queryable,
  p: { now: Date },
): Promise<DueCronTrigger | undefined> {
  const res = await db.query<{
    tenant_id: TenantId;
    id: TriggerId;
    workflow_id: WorkflowId;
    expression: string;
    timezone: string | null;
    cron_next_fire_at: Date | null;
  }>(
    `select tenant_id, id, workflow_id, config->>'expression' as expression,
            config->>'timezone' as timezone, cron_next_fire_at
       from triggers
      where kind = 'cron' and enabled and (cron_next_fire_at is null or cron_next_fire_at <= $1)
      order by cron_next_fire_at nulls first
      limit 1
      for update skip locked`,
    [p.now],
  );
  const r = res.rows[0];
  return (
    r && {
      tenantId: r.tenant_id,
      id: r.id,
      workflowId: r.workflow_id,
      expression: r.expression,
      timezone: r.timezone,
      nextFireAt: r.cron_next_fire_at,
    }
  );
}

/** Plans the next fire of a cron trigger (and records the last one, when it fired). */
export async function updateCronSchedule(
  db: Queryable,
  p: { tenantId: TenantId; id: TriggerId; nextFireAt: Date | null; lastFiredAt: Date | null },
): Promise<void> {
  await db.query(
    `update triggers
        set cron_next_fire_at = $3, cron_last_fired_at = coalesce($4, cron_last_fired_at)
      where tenant_id = $1 and id = $2`,
    [p.tenantId, p.id, p.nextFireAt, p.lastFiredAt],
  );
}

/**
 * Switches the current transaction from the system scope to one tenant's scope: the scheduler
 * locks a due trigger across tenants, then starts its run as that tenant, in one transaction.
 */
export async function enterTenantScope(db: Queryable, p: { tenantId: TenantId }): Promise<void> {
  await db.query(
    "select set_config('app.tenant_id', $1, true), set_config('app.scope', '', true)",
    [p.tenantId],
  );
}
