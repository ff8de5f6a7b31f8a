/** Statements on `webhook_filtered_events`: deliveries a trigger's event filter turned away. */
import type { Queryable } from '../pool.ts';
import type { TriggerId } from '../../model/ids.ts';

export type FilteredEventRow = {
  triggerId: TriggerId;
  event: string;
  deliveries: number;
  lastDeliveryId: string | null;
  firstReceivedAt: Date;
  lastReceivedAt: Date;
};

/** Counts one filtered-out delivery of `event` (one row per trigger and event). */
export async function recordFilteredEvent(
  db: Queryable,
  p: { tenantId: string; triggerId: TriggerId; event: string; deliveryId: string | null; at: Date },
): Promise<void> {
  await db.query(
    `insert into webhook_filtered_events
       (tenant_id, trigger_id, event, last_delivery_id, first_received_at, last_received_at)
     values ($1, $2, $3, $4, $5, $5)
     on conflict (tenant_id, trigger_id, event) do update
       set deliveries = webhook_filtered_events.deliveries + 1,
           last_delivery_id = excluded.last_delivery_id,
           last_received_at = excluded.last_received_at`,
    [p.tenantId, p.triggerId, p.event.slice(0, 200), p.deliveryId, p.at],
  );
}

export async function selectFilteredEvents(
  db: Queryable,
  p: { triggerId: TriggerId },
): Promise<FilteredEventRow[]> {
  const res = await db.query<{
    trigger_id: TriggerId;
    event: string;
    deliveries: string;
    last_delivery_id: string | null;
    first_received_at: Date;
    last_received_at: Date;
  }>(
    `select trigger_id, event, deliveries::text, last_delivery_id, first_received_at, last_received_at
       from webhook_filtered_events where trigger_id = $1
      order by last_received_at desc, event`,
    [p.triggerId],
  );
  return res.rows.map((r) => ({
    triggerId: r.trigger_id,
    event: r.event,
    deliveries: Number(r.deliveries),
    lastDeliveryId: r.last_delivery_id,
    firstReceivedAt: r.first_received_at,
    lastReceivedAt: r.last_received_at,
  }));
}
