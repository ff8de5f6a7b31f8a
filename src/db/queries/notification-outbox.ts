/** Notices waiting to be delivered (migration 0020), inside withTenant(). */
import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';

export type NoticePayload = {
  workflowId: string | null;
  workflowName: string | null;
  count: number;
  since: string;
  until: string;
  runIds: string[];
  /** Tenant-wide notices: OAuth connections marked needs_reauth in the window (ids). */
  connectionsNeedingReauth?: string[];
};

export async function insertNotice(
  db: Queryable,
  p: { tenantId: TenantId; notificationId: string; payload: NoticePayload },
): Promise<void> {
  await db.query(
    `insert into notification_outbox (tenant_id, notification_id, payload) values ($1, $2, $3)`,
    [p.tenantId, p.notificationId, JSON.stringify(p.payload)],
  );
}

export type DueNotice = {
  id: string;
  notificationId: string;
  channel: 'email' | 'webhook';
  target: string;
  payload: NoticePayload;
  attempts: number;
};

/**
 * Leases up to `limit` due notices: their next attempt moves `leaseMs` ahead and the attempt is
 * counted before delivery, so a worker that dies mid-delivery leaves them to be retried later
 * and no two workers deliver one at the same time.
 */
export async function leaseDueNotices(
  db: Queryable,
  p: { tenantId: TenantId; now: Date; leaseMs: number; limit: number },
): Promise<DueNotice[]> {
  const res = await db.query<{
    id: string;
    notification_id: string;
    channel: 'email' | 'webhook';
    target: string;
    payload: NoticePayload;
    attempts: number;
  }>(
    `with due as (
       select o.tenant_id, o.id from notification_outbox o
        where o.tenant_id = $1 and o.delivered_at is null and o.failed_at is null
          and o.next_attempt_at <= $2
        order by o.next_attempt_at limit $4
        for update skip locked)
     update notification_outbox o
        set attempts = o.attempts + 1,
            next_attempt_at = $2::timestamptz + $3 * interval '1 millisecond'
       from due, failure_notifications n
      where o.tenant_id = due.tenant_id and o.id = due.id
        and n.tenant_id = o.tenant_id and n.id = o.notification_id
      returning o.id, o.notification_id, n.channel, n.target, o.payload, o.attempts`,
    [p.tenantId, p.now, p.leaseMs, p.limit],
  );
  return res.rows.map((r) => ({
    id: r.id,
    notificationId: r.notification_id,
    channel: r.channel,
    target: r.target,
    payload: r.payload,
    attempts: r.attempts,
  }));
}

/** The outcome of one attempt: delivered, retried at `retryAt`, or given up (`retryAt` null). */
export async function settleNotice(
  db: Queryable,
  p: {
    tenantId: TenantId;
    id: string;
    now: Date;
    delivered: boolean;
    error: string | null;
    retryAt: Date | null;
  },
): Promise<void> {
  await db.query(
    `update notification_outbox
        set delivered_at = case when $4 then $3::timestamptz end,
            failed_at = case when not $4 and $6::timestamptz is null then $3::timestamptz end,
            next_attempt_at = coalesce($6, next_attempt_at),
            last_error = $5
      where tenant_id = $1 and id = $2`,
    [p.tenantId, p.id, p.now, p.delivered, p.error, p.retryAt],
  );
}

export type NoticeStatusRow = {
  notificationId: string;
  lastDeliveredAt: Date | null;
  lastError: string | null;
  pending: number;
};

/** Per notification: the last delivery, the last error, and notices not delivered yet. */
export async function selectNoticeStatus(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<NoticeStatusRow[]> {
  const res = await db.query<{
    notification_id: string;
    last_delivered_at: Date | null;
    last_error: string | null;
    pending: number;
  }>(
    `select notification_id, max(delivered_at) as last_delivered_at,
            (array_agg(last_error order by created_at desc) filter (where last_error is not null))[1] as last_error,
            count(*) filter (where delivered_at is null and failed_at is null)::int as pending
       from notification_outbox where tenant_id = $1 group by notification_id`,
    [p.tenantId],
  );
  return res.rows.map((r) => ({
    notificationId: r.notification_id,
    lastDeliveredAt: r.last_delivered_at,
    lastError: r.last_error,
    pending: r.pending,
  }));
}
