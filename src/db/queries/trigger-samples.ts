/** trigger_samples: the last delivery each trigger received (migration 0026). */
import type { Queryable } from '../pool.ts';
import type { TenantId, TriggerId, WorkflowId } from '../../model/ids.ts';

export type TriggerSampleRow = {
  triggerId: TriggerId;
  /** Null when the delivery was larger than the sample limit. */
  payload: unknown;
  sizeBytes: number;
  receivedAt: Date;
};

type RawSample = {
  trigger_id: TriggerId;
  payload: unknown;
  size_bytes: number;
  received_at: Date;
};
const toSample = (r: RawSample): TriggerSampleRow => ({
  triggerId: r.trigger_id,
  payload: r.payload,
  sizeBytes: r.size_bytes,
  receivedAt: r.received_at,
});

/**
 * Keeps `payloadJson` (already scrubbed and bounded; null when too large) as the trigger's
 * sample. An older delivery that commits late never replaces a newer one.
 */
export async function upsertTriggerSample(
  db: Queryable,
  p: {
    tenantId: TenantId;
    triggerId: TriggerId;
    payloadJson: string | null;
    sizeBytes: number;
    receivedAt: Date;
  },
): Promise<void> {
  await db.query(
    `insert into trigger_samples (tenant_id, trigger_id, payload, size_bytes, received_at)
     values ($1, $2, $3::jsonb, $4, $5)
     on conflict (tenant_id, trigger_id) do update
       set payload = excluded.payload, size_bytes = excluded.size_bytes,
           received_at = excluded.received_at
     where trigger_samples.received_at <= excluded.received_at`,
    [p.tenantId, p.triggerId, p.payloadJson, p.sizeBytes, p.receivedAt],
  );
}

/** The same sample for every manual trigger of a workflow (triggerWorkflow names no trigger). */
export async function upsertManualTriggerSamples(
  db: Queryable,
  p: {
    tenantId: TenantId;
    workflowId: WorkflowId;
    payloadJson: string | null;
    sizeBytes: number;
    receivedAt: Date;
  },
): Promise<void> {
  await db.query(
    `insert into trigger_samples (tenant_id, trigger_id, payload, size_bytes, received_at)
     select tenant_id, id, $3::jsonb, $4, $5 from triggers
      where tenant_id = $1 and workflow_id = $2 and kind = 'manual'
     on conflict (tenant_id, trigger_id) do update
       set payload = excluded.payload, size_bytes = excluded.size_bytes,
           received_at = excluded.received_at
     where trigger_samples.received_at <= excluded.received_at`,
    [p.tenantId, p.workflowId, p.payloadJson, p.sizeBytes, p.receivedAt],
  );
}

export async function selectTriggerSample(
  db: Queryable,
  p: { tenantId: TenantId; triggerId: TriggerId },
): Promise<TriggerSampleRow | undefined> {
  const res = await db.query<RawSample>(
    `select trigger_id, payload, size_bytes, received_at from trigger_samples
      where tenant_id = $1 and trigger_id = $2`,
    [p.tenantId, p.triggerId],
  );
  return res.rows[0] && toSample(res.rows[0]);
}
