import { randomBytes, randomUUID } from 'node:crypto';
import {
  deleteFailureNotification,
  insertFailureNotification,
  selectFailureNotifications,
  type FailureNotificationRow,
} from '../../../db/queries/failure-notifications.ts';
import {
  selectNoticeStatus,
  type NoticeStatusRow,
} from '../../../db/queries/notification-outbox.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant, principalUserId } from '../context.ts';

type Shape = FailureNotificationRow & { status: NoticeStatusRow | null };

const ChannelEnum = builder.enumType('NotificationChannel', {
  values: { EMAIL: { value: 'email' }, WEBHOOK: { value: 'webhook' } } as const,
});

const FailureNotificationRef = builder.objectRef<Shape>('FailureNotification').implement({
  description:
    'Tells when runs of a workflow (or of any) fail or go dead: at most one notice per interval, with the count since the last one.',
  fields: (t) => ({
    id: t.exposeID('id'),
    workflowId: t.exposeID('workflowId', { nullable: true, description: 'Null: every workflow.' }),
    channel: t.field({ type: ChannelEnum, resolve: (n) => n.channel }),
    target: t.exposeString('target', { description: 'The email address or the webhook URL.' }),
    minIntervalMinutes: t.exposeInt('minIntervalMinutes'),
    lastSentAt: t.expose('lastSentAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the last notice was queued.',
    }),
    lastDeliveredAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (n) => n.status?.lastDeliveredAt ?? null,
    }),
    lastError: t.string({
      nullable: true,
      description: 'Why the last failed delivery failed (it is retried with backoff).',
      resolve: (n) => n.status?.lastError ?? null,
    }),
    pending: t.int({
      description: 'Notices queued and not delivered yet.',
      resolve: (n) => n.status?.pending ?? 0,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const CreatedRef = builder
  .objectRef<{ notification: Shape; signingSecret: string | null }>('CreatedFailureNotification')
  .implement({
    fields: (t) => ({
      notification: t.field({ type: FailureNotificationRef, resolve: (c) => c.notification }),
      signingSecret: t.exposeString('signingSecret', {
        nullable: true,
        description:
          'A webhook’s HMAC key, shown only here: each request carries `x-switchyard-signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.',
      }),
    }),
  });

const FailureNotificationInput = builder.inputType('FailureNotificationInput', {
  fields: (t) => ({
    workflowId: t.id({ required: false, description: 'Absent: every workflow.' }),
    channel: t.field({ type: ChannelEnum, required: true }),
    target: t.string({
      required: true,
      description:
        'An email address, or an https URL that takes a JSON POST (a Slack or Teams incoming webhook works).',
    }),
    minIntervalMinutes: t.int({ required: false, description: '1 to 1440; 15 by default.' }),
  }),
});

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function checkTarget(channel: 'email' | 'webhook', raw: string): string {
  const target = raw.trim();
  if (channel === 'email') {
    if (!EMAIL.test(target) || target.length > 320)
      throw new SwitchyardError('E_VALIDATION', 'Enter an email address.', { field: 'target' });
    return target;
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new SwitchyardError('E_VALIDATION', 'Enter the webhook’s URL.', { field: 'target' });
  }
  // The gate decides at delivery which hosts and addresses are reachable (no private ones).
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new SwitchyardError('E_VALIDATION', 'The webhook URL must be https.', {
      field: 'target',
    });
  if (url.username || url.password)
    throw new SwitchyardError('E_VALIDATION', 'Put no credentials in the URL.', {
      field: 'target',
    });
  return url.toString();
}

builder.queryField('failureNotifications', (t) =>
  t.field({
    type: [FailureNotificationRef],
    authScopes: { admin: true },
    resolve: (_r, _a, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const status = new Map(
          (await selectNoticeStatus(db, { tenantId })).map((s) => [s.notificationId, s]),
        );
        return (await selectFailureNotifications(db, { tenantId })).map((n) => ({
          ...n,
          status: status.get(n.id) ?? null,
        }));
      }),
  }),
);

builder.mutationField('createFailureNotification', (t) =>
  t.field({
    type: CreatedRef,
    authScopes: { admin: true },
    description: 'Audited; a webhook’s signing secret is shown only in the answer.',
    args: { input: t.arg({ type: FailureNotificationInput }) },
    resolve: (_r, { input }, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const channel = input.channel;
        const target = checkTarget(channel, input.target);
        const minIntervalMinutes = input.minIntervalMinutes ?? 15;
        if (
          !Number.isInteger(minIntervalMinutes) ||
          minIntervalMinutes < 1 ||
          minIntervalMinutes > 1440
        )
          throw new SwitchyardError('E_VALIDATION', 'The interval is 1 to 1440 minutes.', {
            field: 'minIntervalMinutes',
          });
        const id = randomUUID();
        let signingSecret: string | null = null;
        let cipher: Buffer | null = null;
        if (channel === 'webhook') {
          signingSecret = `whsec_${randomBytes(32).toString('base64')}`;
          ctx.services.secrets.scrubber.add(signingSecret);
          cipher = await ctx.services.secrets.encryptField(
            db,
            {
              tenantId,
              table: 'failure_notifications',
              recordId: id,
              field: 'signing_secret_cipher',
            },
            signingSecret,
          );
        }
        const actor = auditActor(ctx);
        const row = await insertFailureNotification(db, {
          tenantId,
          id,
          workflowId: input.workflowId ? String(input.workflowId) : null,
          channel,
          target,
          signingSecretCipher: cipher,
          minIntervalMinutes,
          createdBy: principalUserId(ctx),
        }).catch((err: unknown) => {
          if ((err as { code?: string }).code === '23503')
            throw new SwitchyardError('E_VALIDATION', 'No such workflow.', { field: 'workflowId' });
          throw err;
        });
        await recordAudit(db, {
          tenantId,
          ...actor,
          action: 'failure_notification.created',
          targetKind: 'failure_notification',
          targetId: id,
          // The target is an address or a URL the admin chose; a webhook URL may itself be a
          // capability (Slack's are): only its origin is recorded.
          metadata: {
            channel,
            workflowId: row.workflowId,
            target: channel === 'email' ? target : new URL(target).origin,
            minIntervalMinutes,
          },
        });
        return { notification: { ...row, status: null }, signingSecret };
      }),
  }),
);

builder.mutationField('deleteFailureNotification', (t) =>
  t.boolean({
    authScopes: { admin: true },
    args: { id: t.arg.id() },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const gone = await deleteFailureNotification(db, { tenantId, id: String(args.id) });
        if (!gone) throw new SwitchyardError('E_NOT_FOUND', 'No such notification.');
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'failure_notification.deleted',
          targetKind: 'failure_notification',
          targetId: gone.id,
          metadata: { channel: gone.channel },
        });
        return true;
      }),
  }),
);
