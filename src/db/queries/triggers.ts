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

export type TriggerRow = {
  id: TriggerId;
  workflowId: WorkflowId;
  kind: 'webhook' | 'cron' | 'manual';
  name: string;
  enabled: boolean;
  config: Record<string, unknown>;
  previousSecretExpiresAt: Date | null;
  cronNextFireAt: Date | null;
  cronLastFiredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
};
type Raw = {
  id: TriggerId;
  workflow_id: WorkflowId;
  kind: TriggerRow['kind'];
  name: string;
  enabled: boolean;
  config: Record<string, unknown>;
  previous_secret_expires_at: Date | null;
  cron_next_fire_at: Date | null;
  cron_last_fired_at: Date | null;
  created_at: Date;
  updated_at: Date;
};
const columns =
  'id, workflow_id, kind, name, enabled, config, previous_secret_expires_at, cron_next_fire_at, cron_last_fired_at, created_at, updated_at';
const map = (r: Raw): TriggerRow => ({
  id: r.id,
  workflowId: r.workflow_id,
  kind: r.kind,
  name: r.name,
  enabled: r.enabled,
  config: r.config,
  previousSecretExpiresAt: r.previous_secret_expires_at,
  cronNextFireAt: r.cron_next_fire_at,
  cronLastFiredAt: r.cron_last_fired_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export async function insertTrigger(
  db: Queryable,
  p: {
    tenantId: TenantId;
    id: TriggerId;
    workflowId: WorkflowId;
    kind: TriggerRow['kind'];
    name: string;
    enabled: boolean;
    config: Record<string, unknown>;
    webhookSecretCipher: Buffer | null;
    /** A cron trigger's first time (engine/cron.ts firstCronFireAt); null: the scheduler plans it. */
    cronNextFireAt: Date | null;
  },
): Promise<TriggerRow> {
  const res = await db.query<Raw>(
    `insert into triggers (tenant_id, id, workflow_id, kind, name, enabled, config, webhook_secret_cipher,
                           cron_next_fire_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning ${columns}`,
    [
      p.tenantId,
      p.id,
      p.workflowId,
      p.kind,
      p.name,
      p.enabled,
      JSON.stringify(p.config),
      p.webhookSecretCipher,
      p.cronNextFireAt,
    ],
  );
  return map(res.rows[0]!);
}

/** One page, oldest first by (created_at, id), of one workflow or all. */
export async function selectTriggers(
  db: Queryable,
  p: {
    tenantId: string;
    workflowId: WorkflowId | null;
    after: { createdAt: Date; id: string } | null;
    limit: number;
  },
): Promise<TriggerRow[]> {
  const res = await db.query<Raw>(
    `select ${columns} from triggers
      where tenant_id = $1 and ($2::uuid is null or workflow_id = $2)
        and ($3::timestamptz is null or (created_at, id) > ($3, $4::uuid))
      order by created_at, id limit $5`,
    [p.tenantId, p.workflowId, p.after?.createdAt ?? null, p.after?.id ?? null, p.limit],
  );
  return res.rows.map(map);
}

export async function selectTrigger(
  db: Queryable,
  p: { id: TriggerId },
): Promise<TriggerRow | undefined> {
  const res = await db.query<Raw>(`select ${columns} from triggers where id = $1`, [p.id]);
  return res.rows[0] && map(res.rows[0]);
}

/**
 * Changing a cron trigger (or enabling a disabled one) re-plans it from now: `cronNextFireAt`,
 * planned by the caller from the new config (null: the scheduler plans it).
 */
export async function updateTrigger(
  db: Queryable,
  p: {
    id: TriggerId;
    name: string;
    enabled: boolean;
    config: Record<string, unknown>;
    cronNextFireAt: Date | null;
  },
): Promise<TriggerRow | undefined> {
  const res = await db.query<Raw>(
    `update triggers set name = $2, enabled = $3, config = $4,
       cron_next_fire_at = case when kind = 'cron' and (config is distinct from $4::jsonb or not enabled) then $5 else cron_next_fire_at end
     where id = $1 returning ${columns}`,
    [p.id, p.name, p.enabled, JSON.stringify(p.config), p.cronNextFireAt],
  );
  return res.rows[0] && map(res.rows[0]);
}

export async function deleteTrigger(db: Queryable, p: { id: TriggerId }): Promise<boolean> {
  const res = await db.query('delete from triggers where id = $1', [p.id]);
  return (res.rowCount ?? 0) > 0;
}

export type WebhookRoute = {
  tenantId: TenantId;
  triggerId: TriggerId;
  workflowId: WorkflowId;
  enabled: boolean;
  scheme: string;
  /** Lower-case header names kept in the run input although they look like credentials. */
  keepHeaders: string[];
  /** The events that start a run (config.events); null: all. */
  events: string[] | null;
};

/** Webhook ingress: the tenant of a webhook trigger, under the system scope (system_scope_webhook). */
export async function selectWebhookRoute(
  db: Queryable,
  p: { id: TriggerId },
): Promise<WebhookRoute | undefined> {
  const res = await db.query<{
    tenant_id: TenantId;
    id: TriggerId;
    workflow_id: WorkflowId;
    enabled: boolean;
    scheme: string | null;
    keep_headers: unknown;
    events: unknown;
  }>(
    `select tenant_id, id, workflow_id, enabled, config->>'signatureScheme' as scheme,
            config->'keepHeaders' as keep_headers, config->'events' as events
       from triggers where id = $1 and kind = 'webhook'`,
    [p.id],
  );
  const r = res.rows[0];
  return (
    r && {
      tenantId: r.tenant_id,
      triggerId: r.id,
      workflowId: r.workflow_id,
      enabled: r.enabled,
      scheme: r.scheme ?? 'standard',
      keepHeaders: Array.isArray(r.keep_headers)
        ? r.keep_headers.filter((h): h is string => typeof h === 'string')
        : [],
      events: Array.isArray(r.events)
        ? r.events.filter((e): e is string => typeof e === 'string')
        : null,
    }
  );
}
