/** Failure notification settings of a tenant (migration 0020), inside withTenant(). */
import type { Queryable } from '../pool.ts';
import type { TenantId, UserId } from '../../model/ids.ts';

export type NotificationChannel = 'email' | 'webhook';

export type FailureNotificationRow = {
  id: string;
  workflowId: string | null;
  channel: NotificationChannel;
  target: string;
  minIntervalMinutes: number;
  countedUntil: Date;
  lastSentAt: Date | null;
  createdAt: Date;
};

type Raw = {
  id: string;
  workflow_id: string | null;
  channel: NotificationChannel;
  target: string;
  min_interval_minutes: number;
  counted_until: Date;
  last_sent_at: Date | null;
  created_at: Date;
};
const columns = `id, workflow_id, channel, target, min_interval_minutes, counted_until,
  last_sent_at, created_at`;
const toRow = (r: Raw): FailureNotificationRow => ({
  id: r.id,
  workflowId: r.workflow_id,
  channel: r.channel,
  target: r.target,
  minIntervalMinutes: r.min_interval_minutes,
  countedUntil: r.counted_until,
  lastSentAt: r.last_sent_at,
  createdAt: r.created_at,
});

/** The caller picks the id: a webhook's sealed secret is bound to it. */
export async function insertFailureNotification(
  db: Queryable,
  p: {
    tenantId: TenantId;
    id: string;
    workflowId: string | null;
    channel: NotificationChannel;
    target: string;
    signingSecretCipher: Buffer | null;
    minIntervalMinutes: number;
    createdBy: UserId | null;
  },
): Promise<FailureNotificationRow> {
  const res = await db.query<Raw>(
    `insert into failure_notifications
       (tenant_id, id, workflow_id, channel, target, signing_secret_cipher, min_interval_minutes, created_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8) returning ${columns}`,
    [
      p.tenantId,
      p.id,
      p.workflowId,
      p.channel,
      p.target,
      p.signingSecretCipher,
      p.minIntervalMinutes,
      p.createdBy,
    ],
  );
  return toRow(res.rows[0]!);
}

export async function selectFailureNotifications(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<FailureNotificationRow[]> {
  const res = await db.query<Raw>(
    `select ${columns} from failure_notifications where tenant_id = $1 order by created_at, id`,
    [p.tenantId],
  );
  return res.rows.map(toRow);
}

export async function deleteFailureNotification(
  db: Queryable,
  p: { tenantId: TenantId; id: string },
): Promise<FailureNotificationRow | null> {
  const res = await db.query<Raw>(
    `delete from failure_notifications where tenant_id = $1 and id = $2 returning ${columns}`,
    [p.tenantId, p.id],
  );
  return res.rows[0] ? toRow(res.rows[0]) : null;
}

/**
 * The notifications whose interval has passed since their last notice, locked (skipping those
 * another worker holds): each is then counted and, with failures, queued in the same
 * transaction, so two workers never send the same failures twice.
 */
export async function lockDueFailureNotifications(
  db: Queryable,
  p: { tenantId: TenantId; now: Date },
): Promise<FailureNotificationRow[]> {
  const res = await db.query<Raw>(
    `select ${columns} from failure_notifications
      where tenant_id = $1
        and (last_sent_at is null or last_sent_at <= $2::timestamptz - make_interval(mins => min_interval_minutes))
      order by id
      for update skip locked`,
    [p.tenantId, p.now],
  );
  return res.rows.map(toRow);
}

export type FailureCount = {
  count: number;
  until: Date | null;
  workflowName: string | null;
  runIds: string[];
};

/**
 * Runs that failed or went dead, finished in (`since`, `now`], of one workflow or all: how many,
 * the last finish time, a few run ids, and the workflow's name when it is one workflow.
 */
export async function countFailuresSince(
  db: Queryable,
  p: { tenantId: TenantId; workflowId: string | null; since: Date; now: Date },
): Promise<FailureCount> {
  const res = await db.query<{
    n: number;
    until: Date | null;
    name: string | null;
    run_ids: string[] | null;
  }>(
    `select count(*)::int as n, max(r.finished_at) as until,
            (select w.name from workflows w where w.tenant_id = $1 and w.id = $2) as name,
            (array_agg(r.id order by r.finished_at desc))[1:5]::text[] as run_ids
       from workflow_runs r
      where r.tenant_id = $1 and r.status in ('failed', 'dead') and not r.is_test
        and ($2::uuid is null or r.workflow_id = $2)
        and r.finished_at > $3 and r.finished_at <= $4`,
    [p.tenantId, p.workflowId, p.since, p.now],
  );
  const r = res.rows[0]!;
  return { count: r.n, until: r.until, workflowName: r.name, runIds: r.run_ids ?? [] };
}

/** After a notice is queued (`sentAt`), or to skip past failures counted in none (`sentAt` null). */
export async function advanceFailureNotification(
  db: Queryable,
  p: { tenantId: TenantId; id: string; countedUntil: Date; sentAt: Date | null },
): Promise<void> {
  await db.query(
    `update failure_notifications
        set counted_until = greatest(counted_until, $3), last_sent_at = coalesce($4, last_sent_at)
      where tenant_id = $1 and id = $2`,
    [p.tenantId, p.id, p.countedUntil, p.sentAt],
  );
}

/** The sealed signing secret of a webhook notification (null for email). */
export async function selectNotificationSecretCipher(
  db: Queryable,
  p: { tenantId: TenantId; id: string },
): Promise<Buffer | null> {
  const res = await db.query<{ c: Buffer | null }>(
    `select signing_secret_cipher as c from failure_notifications where tenant_id = $1 and id = $2`,
    [p.tenantId, p.id],
  );
  return res.rows[0]?.c ?? null;
}
