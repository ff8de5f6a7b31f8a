/**
 * Failure notices: the worker's loop that tells a tenant when runs fail or go dead, by email (the
 * invitations' SMTP mailer) or by a signed webhook (a Slack- or Teams-compatible `{ text }` body,
 * sent through the runner's gate, which the caller hands in as `post`). Failures are found in the
 * database, not reported by the engine: nothing is added to a run's path, and a notice is never
 * lost to a crash between a run's end and a hook.
 *
 * Each pass, per tenant: (1) the notifications whose interval has passed are locked, their
 * failures since `counted_until` counted, and one notice with the count queued in
 * notification_outbox (same transaction, audited); (2) due notices are leased and delivered,
 * retried with backoff, given up after MAX_ATTEMPTS.
 */
import { createHmac } from 'node:crypto';
import type pg from 'pg';
import {
  advanceFailureNotification,
  countFailuresSince,
  lockDueFailureNotifications,
  selectNotificationSecretCipher,
} from '../db/queries/failure-notifications.ts';
import { countReauthEventsSince } from '../db/queries/audit-events.ts';
import {
  insertNotice,
  leaseDueNotices,
  settleNotice,
  type DueNotice,
  type NoticePayload,
} from '../db/queries/notification-outbox.ts';
import { selectTenantIdsPage } from '../db/queries/tenants.ts';
import { withSystem, withTenant } from '../db/tenant.ts';
import type { TenantId } from '../model/ids.ts';
import { recordAudit } from '../observability/audit.ts';
import type { Logger } from '../observability/logger.ts';
import type { SecretBox } from '../security/crypto/secret-box.ts';
import type { Mailer } from './mailer.ts';

export const MAX_ATTEMPTS = 8;
const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 30 * 60_000;
/** A delivery in progress holds its notice this long; a crashed worker's is retried after. */
const LEASE_MS = 2 * 60_000;
const TENANT_PAGE = 200;

/** An outgoing POST through the gate (SSRF policy, timeouts): the status, or it throws. */
export type Post = (req: {
  url: string;
  headers: Record<string, string>;
  body: string;
}) => Promise<{ status: number }>;

export type NotifierDeps = {
  pool: pg.Pool;
  secrets: SecretBox;
  /** Null without SMTP_URL: email notices fail (and say why) until it is set. */
  mailer: Mailer | null;
  post: Post;
  publicUrl: string;
  logger: Logger;
  clock: { now(): Date };
};

export type Notifier = {
  tick(): Promise<void>;
  start(intervalMs: number): void;
  stop(): Promise<void>;
};

export function createNotifier(deps: NotifierDeps): Notifier {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | null = null;
  let stopped = false;

  async function tick(): Promise<void> {
    for await (const tenantId of allTenants(deps.pool)) {
      try {
        await queueNotices(deps, tenantId);
        await deliverNotices(deps, tenantId);
      } catch (err) {
        deps.logger.error({ err, tenantId }, 'failure notices: pass failed for a tenant');
      }
    }
  }

  return {
    tick,
    start(intervalMs) {
      const loop = () => {
        if (stopped) return;
        running = tick()
          .catch((err: unknown) => deps.logger.error({ err }, 'failure notices: pass failed'))
          .finally(() => {
            running = null;
            if (!stopped) timer = setTimeout(loop, intervalMs);
          });
      };
      timer = setTimeout(loop, intervalMs);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

async function* allTenants(pool: pg.Pool): AsyncGenerator<TenantId> {
  let afterId: TenantId | null = null;
  for (;;) {
    const after: TenantId | null = afterId;
    const page: TenantId[] = await withSystem(pool, (db) =>
      selectTenantIdsPage(db, { afterId: after, limit: TENANT_PAGE }),
    );
    yield* page;
    if (page.length < TENANT_PAGE) return;
    afterId = page[page.length - 1]!;
  }
}

async function queueNotices(deps: NotifierDeps, tenantId: TenantId): Promise<void> {
  const now = deps.clock.now();
  await withTenant(deps.pool, tenantId, async (db) => {
    for (const n of await lockDueFailureNotifications(db, { tenantId, now })) {
      const c = await countFailuresSince(db, {
        tenantId,
        workflowId: n.workflowId,
        since: n.countedUntil,
        now,
      });
      // A tenant-wide notification also tells of OAuth connections that need connecting again
      // (their refresh was refused): every run using one fails until someone does.
      const reauth = n.workflowId
        ? { count: 0, until: null, connectionIds: [] }
        : await countReauthEventsSince(db, { tenantId, since: n.countedUntil, now });
      const until = [c.until, reauth.until]
        .filter((d): d is Date => d !== null)
        .reduce<Date | null>((a, b) => (a && a > b ? a : b), null);
      if (!until) continue;
      const payload: NoticePayload = {
        workflowId: n.workflowId,
        workflowName: c.workflowName,
        count: c.count,
        since: n.countedUntil.toISOString(),
        until: until.toISOString(),
        runIds: c.runIds,
        connectionsNeedingReauth: reauth.connectionIds,
      };
      await insertNotice(db, { tenantId, notificationId: n.id, payload });
      await advanceFailureNotification(db, {
        tenantId,
        id: n.id,
        countedUntil: until,
        sentAt: now,
      });
      await recordAudit(db, {
        tenantId,
        actorKind: 'system',
        actorId: 'notifier',
        action: 'failure_notification.queued',
        targetKind: 'failure_notification',
        targetId: n.id,
        metadata: {
          channel: n.channel,
          count: c.count,
          workflowId: n.workflowId,
          connectionsNeedingReauth: reauth.connectionIds.length,
        },
      });
    }
  });
}

async function deliverNotices(deps: NotifierDeps, tenantId: TenantId): Promise<void> {
  for (;;) {
    const now = deps.clock.now();
    const due = await withTenant(deps.pool, tenantId, (db) =>
      leaseDueNotices(db, { tenantId, now, leaseMs: LEASE_MS, limit: 20 }),
    );
    for (const notice of due) {
      let error: string | null = null;
      try {
        await deliver(deps, tenantId, notice);
      } catch (err) {
        error = (err as Error).message.slice(0, 500);
        deps.logger.warn(
          { tenantId, notice: notice.id, err: error },
          'failure notice not delivered',
        );
      }
      const retryAt =
        error === null || notice.attempts >= MAX_ATTEMPTS
          ? null
          : new Date(
              deps.clock.now().getTime() +
                Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (notice.attempts - 1)),
            );
      await withTenant(deps.pool, tenantId, (db) =>
        settleNotice(db, {
          tenantId,
          id: notice.id,
          now: deps.clock.now(),
          delivered: error === null,
          error,
          retryAt,
        }),
      );
    }
    if (due.length < 20) return;
  }
}

/** The one sentence both channels carry. */
export function noticeText(p: NoticePayload, publicUrl: string): string {
  const base = publicUrl.replace(/\/$/, '');
  const parts: string[] = [];
  if (p.count > 0) {
    const runs = p.count === 1 ? '1 run' : `${p.count} runs`;
    const of = p.workflowName ? ` of “${p.workflowName}”` : '';
    parts.push(`${runs}${of} failed since ${p.since}`);
  }
  const reauth = p.connectionsNeedingReauth?.length ?? 0;
  if (reauth > 0)
    parts.push(
      `${reauth === 1 ? '1 connection needs' : `${reauth} connections need`} to be connected again (an OAuth refresh was refused)`,
    );
  return `Switchyard: ${parts.join('; ')}. See ${base}/${p.count > 0 ? 'failures' : 'connections'}`;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as Standard Webhooks-style receivers check. */
export function signNotice(secret: string, body: string, at: Date): string {
  const t = Math.floor(at.getTime() / 1000);
  const mac = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${mac}`;
}

async function deliver(deps: NotifierDeps, tenantId: TenantId, n: DueNotice): Promise<void> {
  const text = noticeText(n.payload, deps.publicUrl);
  if (n.channel === 'email') {
    if (!deps.mailer) throw new Error('E_MAIL_UNAVAILABLE: no SMTP_URL is configured');
    await deps.mailer.send({ to: n.target, subject: text.split('. See')[0]!, text });
    return;
  }
  const secret = await withTenant(deps.pool, tenantId, async (db) => {
    const cipher = await selectNotificationSecretCipher(db, { tenantId, id: n.notificationId });
    if (!cipher) throw new Error('the webhook has no signing secret');
    const loc = {
      tenantId,
      table: 'failure_notifications',
      recordId: n.notificationId,
      field: 'signing_secret_cipher',
    };
    return (await deps.secrets.decryptField(db, loc, cipher)).toString('utf8');
  });
  const body = JSON.stringify({ text, ...n.payload });
  const res = await deps.post({
    url: n.target,
    headers: {
      'content-type': 'application/json',
      'x-switchyard-signature': signNotice(secret, body, deps.clock.now()),
    },
    body,
  });
  if (res.status < 200 || res.status >= 300)
    throw new Error(`the webhook answered HTTP ${res.status}`);
}
