import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import { conflictAsError } from '../../../catalog/conflicts.ts';
import {
  deleteTrigger,
  insertTrigger,
  selectTrigger,
  selectTriggers,
  updateTrigger,
  type TriggerRow,
} from '../../../db/queries/triggers.ts';
import { selectWorkflow } from '../../../db/queries/workflows.ts';
import { firstCronFireAt } from '../../../engine/cron.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import { assertJsonSchema } from '../../../model/json-schema.ts';
import type { TriggerId, WorkflowId } from '../../../model/ids.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { sealNewWebhookSecret, setWebhookSecret } from '../../../security/secrets/webhooks.ts';
import { validateEventFilter } from '../../webhooks/event-filter.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant, type GraphQLContext } from '../context.ts';
import { pageRef } from '../page-type.ts';
import { decodeCursor, pageSize, toPage } from '../pagination.ts';

const TriggerKindEnum = builder.enumType('TriggerKind', {
  values: ['webhook', 'cron', 'manual'] as const,
});
const schemes = ['standard', 'github', 'stripe'];

function webhookUrl(ctx: GraphQLContext, t: TriggerRow): string | null {
  return t.kind === 'webhook' ? `${ctx.services.settings.publicUrl}/hooks/${t.id}` : null;
}

export const TriggerRef = builder.objectRef<TriggerRow>('Trigger').implement({
  description:
    'Starts a workflow: a webhook, a cron schedule, or by hand. Webhook secrets are shown only by create and rotate.',
  fields: (t) => ({
    id: t.exposeID('id'),
    workflowId: t.exposeID('workflowId'),
    kind: t.exposeString('kind'),
    name: t.exposeString('name'),
    enabled: t.exposeBoolean('enabled'),
    config: t.expose('config', {
      type: 'JSON',
      description:
        'Webhook: `{signatureScheme, keepHeaders, events}`; cron: `{expression, timezone}`; manual: `{inputSchema}` (optional: the JSON Schema the web app’s Run now form is generated from) (docs/workflows.md, "Triggers").',
    }),
    webhookUrl: t.string({ nullable: true, resolve: (tr, _a, ctx) => webhookUrl(ctx, tr) }),
    previousSecretExpiresAt: t.expose('previousSecretExpiresAt', {
      type: 'DateTime',
      nullable: true,
    }),
    cronNextFireAt: t.expose('cronNextFireAt', { type: 'DateTime', nullable: true }),
    cronLastFiredAt: t.expose('cronLastFiredAt', { type: 'DateTime', nullable: true }),
    nextFireTimes: t.field({
      type: ['DateTime'],
      nullable: true,
      description:
        'A cron trigger: its next `count` (1 to 20) fire times from now, in its time zone’s calendar (null for other kinds).',
      args: { count: t.arg.int({ required: false, defaultValue: 5 }) },
      resolve: (tr, args, ctx) => {
        if (tr.kind !== 'cron') return null;
        const count = args.count ?? 5;
        if (!Number.isInteger(count) || count < 1 || count > 20)
          throw new SwitchyardError('E_VALIDATION', 'count must be 1 to 20.', { field: 'count' });
        const c = tr.config as { expression?: string; timezone?: string };
        try {
          const cron = new Cron(String(c.expression), {
            timezone: c.timezone ?? 'UTC',
            paused: true,
          });
          const times = cron.nextRuns(count, ctx.services.clock.now());
          cron.stop();
          return times;
        } catch {
          // An expression stored before a stricter parser: nothing to show, the scheduler parks it.
          return [];
        }
      },
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const TriggerWithSecretRef = builder
  .objectRef<{ trigger: TriggerRow; secret: string | null }>('TriggerWithSecret')
  .implement({
    fields: (t) => ({
      trigger: t.field({ type: TriggerRef, resolve: (r) => r.trigger }),
      secret: t.exposeString('secret', {
        nullable: true,
        description: 'The webhook signing secret (whsec_…). Shown once: store it now.',
      }),
    }),
  });

/** Checks a trigger's config for its kind; returns the normalised config. */
function validateConfig(kind: TriggerRow['kind'], raw: unknown): Record<string, unknown> {
  const config = (raw ?? {}) as Record<string, unknown>;
  if (typeof config !== 'object' || Array.isArray(config))
    throw new SwitchyardError(
      'E_VALIDATION',
      'config must be a JSON object, sent as a GraphQL variable (docs/workflows.md, "Triggers").',
      { field: 'config' },
    );
  assertKnownKeys(kind, config);
  if (kind === 'webhook') {
    const scheme = config.signatureScheme ?? 'standard';
    if (typeof scheme !== 'string' || !schemes.includes(scheme)) {
      throw new SwitchyardError(
        'E_VALIDATION',
        `config.signatureScheme must be one of ${schemes.join(', ')}.`,
        { field: 'config.signatureScheme' },
      );
    }
    const keepHeaders = validateKeepHeaders(config.keepHeaders);
    const events = validateEventFilter(config.events);
    return {
      signatureScheme: scheme,
      ...(keepHeaders ? { keepHeaders } : {}),
      ...(events ? { events } : {}),
    };
  }
  if (kind === 'cron') {
    const timezone = config.timezone ?? 'UTC';
    if (typeof config.expression !== 'string')
      throw new SwitchyardError(
        'E_VALIDATION',
        'config.expression is required, e.g. "*/5 * * * *".',
        { field: 'config.expression' },
      );
    if (typeof timezone !== 'string')
      throw new SwitchyardError(
        'E_VALIDATION',
        'config.timezone must be an IANA zone, e.g. Europe/Paris.',
        { field: 'config.timezone' },
      );
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone });
    } catch {
      throw new SwitchyardError(
        'E_VALIDATION',
        `config.timezone "${timezone}" is not an IANA time zone.`,
        { field: 'config.timezone' },
      );
    }
    try {
      new Cron(config.expression, { timezone, paused: true }).stop();
    } catch (err) {
      throw new SwitchyardError(
        'E_VALIDATION',
        `config.expression is not a cron expression: ${(err as Error).message}`,
        { field: 'config.expression' },
      );
    }
    return { expression: config.expression, timezone };
  }
  if (config.inputSchema !== undefined) {
    // The web app's "Run now" form is generated from it (docs/workflows.md, "Triggers").
    assertJsonSchema(config.inputSchema, 'config.inputSchema');
    return { inputSchema: config.inputSchema };
  }
  return {};
}

/** A misspelt key (`scheme` for `signatureScheme`) would silently fall back to a default. */
const webhookKeys = ['signatureScheme', 'keepHeaders', 'events'];

function assertKnownKeys(kind: TriggerRow['kind'], config: Record<string, unknown>): void {
  const known = kind === 'webhook' ? webhookKeys : kind === 'manual' ? ['inputSchema'] : null;
  const unknown = known && Object.keys(config).find((k) => !known.includes(k));
  if (unknown)
    throw new SwitchyardError(
      'E_VALIDATION',
      `config.${unknown} is not a ${kind} trigger setting (${known.join(', ') || 'none'}; docs/workflows.md, "Triggers").`,
      { field: `config.${unknown}` },
    );
}

const headerName = /^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

/** `config.keepHeaders`: header names kept in the run input although they look like credentials. */
function validateKeepHeaders(raw: unknown): string[] | null {
  if (raw === undefined || raw === null) return null;
  const field = 'config.keepHeaders';
  if (!Array.isArray(raw) || raw.length > 50)
    throw new SwitchyardError('E_VALIDATION', `${field} must be a list of up to 50 header names.`, {
      field,
    });
  return raw.map((h, i) => {
    const name = typeof h === 'string' ? h.trim().toLowerCase() : '';
    if (!headerName.test(name))
      throw new SwitchyardError(
        'E_VALIDATION',
        `${field}[${i}] must be an HTTP header name, e.g. "x-api-key".`,
        { field: `${field}[${i}]` },
      );
    return name;
  });
}

const TriggerPageRef = pageRef('TriggerPage', TriggerRef, 'triggers');

builder.queryField('triggers', (t) =>
  t.field({
    type: TriggerPageRef,
    authScopes: { viewer: true },
    description:
      'Oldest first, of one workflow or all, with cursor pagination (`after` = a previous `endCursor`).',
    args: {
      workflowId: t.arg.id({ required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const limit = pageSize(args.first);
      const key = decodeCursor(args.after);
      const after = key ? { createdAt: new Date(String(key[0])), id: String(key[1]) } : null;
      if (after && Number.isNaN(after.createdAt.getTime()))
        throw new SwitchyardError('E_VALIDATION', 'The cursor is not one this API returned.', {
          field: 'after',
        });
      return inTenant(ctx, async (db, tenantId) =>
        toPage(
          await selectTriggers(db, {
            tenantId,
            workflowId: args.workflowId ? (String(args.workflowId) as WorkflowId) : null,
            after,
            limit: limit + 1,
          }),
          limit,
          (tr) => [tr.createdAt.toISOString(), tr.id],
        ),
      );
    },
  }),
);

builder.mutationField('createTrigger', (t) =>
  t.field({
    type: TriggerWithSecretRef,
    authScopes: { editor: true },
    args: {
      workflowId: t.arg.id(),
      kind: t.arg({ type: TriggerKindEnum }),
      name: t.arg.string({ required: false }),
      enabled: t.arg.boolean({ required: false }),
      config: t.arg({
        type: 'JSON',
        required: false,
        description:
          'Webhook: `{"signatureScheme": "standard"|"github"|"stripe", "keepHeaders": [...]}`; cron: `{"expression": "*/5 * * * *", "timezone": "Europe/Paris"}` (docs/workflows.md). Send it as a variable.',
      }),
    },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const workflowId = String(args.workflowId) as WorkflowId;
        if (!(await selectWorkflow(db, { id: workflowId })))
          throw new SwitchyardError('E_NOT_FOUND', 'No such workflow.');
        const config = validateConfig(args.kind, args.config);
        const id = randomUUID() as TriggerId;
        const sealed =
          args.kind === 'webhook'
            ? await sealNewWebhookSecret(db, ctx.services.secrets, { tenantId, triggerId: id })
            : null;
        const trigger = await conflictAsError('trigger', () =>
          insertTrigger(db, {
            tenantId,
            id,
            workflowId,
            kind: args.kind,
            name: args.name ?? '',
            enabled: args.enabled ?? true,
            config,
            webhookSecretCipher: sealed?.cipher ?? null,
            cronNextFireAt:
              args.kind === 'cron' ? firstCronFireAt(config, ctx.services.clock.now()) : null,
          }),
        );
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'trigger.created',
          targetKind: 'trigger',
          targetId: id,
          metadata: { kind: args.kind, workflowId },
        });
        return { trigger, secret: sealed?.secret ?? null };
      }),
  }),
);

builder.mutationField('updateTrigger', (t) =>
  t.field({
    type: TriggerRef,
    authScopes: { editor: true },
    args: {
      id: t.arg.id(),
      name: t.arg.string(),
      enabled: t.arg.boolean(),
      config: t.arg({
        type: 'JSON',
        required: false,
        description: 'The whole config of the kind (docs/workflows.md); omitted: unchanged.',
      }),
    },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const id = String(args.id) as TriggerId;
        const current = await selectTrigger(db, { id });
        if (!current) throw new SwitchyardError('E_NOT_FOUND', 'No such trigger.');
        const config = validateConfig(current.kind, args.config ?? current.config);
        const row = await conflictAsError('trigger', () =>
          updateTrigger(db, {
            id,
            name: args.name,
            enabled: args.enabled,
            config,
            cronNextFireAt:
              current.kind === 'cron' ? firstCronFireAt(config, ctx.services.clock.now()) : null,
          }),
        );
        if (!row) throw new SwitchyardError('E_NOT_FOUND', 'No such trigger.');
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'trigger.updated',
          targetKind: 'trigger',
          targetId: id,
          metadata: { enabled: row.enabled },
        });
        return row;
      }),
  }),
);

builder.mutationField('rotateWebhookSecret', (t) =>
  t.field({
    type: TriggerWithSecretRef,
    authScopes: { editor: true },
    description:
      'A new signing secret; the previous one stays valid for `previousValidForMs` (default from the server settings).',
    args: { id: t.arg.id(), previousValidForMs: t.arg.int({ required: false }) },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const id = String(args.id) as TriggerId;
        const current = await selectTrigger(db, { id });
        if (current?.kind !== 'webhook')
          throw new SwitchyardError('E_NOT_FOUND', 'No such webhook trigger.');
        const overlap = args.previousValidForMs ?? ctx.services.settings.webhookSecretOverlapMs;
        if (overlap < 0 || overlap > 30 * 86_400_000) {
          throw new SwitchyardError('E_VALIDATION', 'previousValidForMs must be 0 to 30 days.', {
            field: 'previousValidForMs',
          });
        }
        const rotated = await setWebhookSecret(db, ctx.services.secrets, {
          tenantId,
          triggerId: id,
          previousValidForMs: overlap,
          now: ctx.services.clock.now(),
        });
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'trigger.secret_rotated',
          targetKind: 'trigger',
          targetId: id,
          metadata: { previousValidForMs: overlap },
        });
        return { trigger: (await selectTrigger(db, { id }))!, secret: rotated.secret };
      }),
  }),
);

builder.mutationField('deleteTrigger', (t) =>
  t.boolean({
    authScopes: { editor: true },
    args: { id: t.arg.id() },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const id = String(args.id) as TriggerId;
        if (!(await deleteTrigger(db, { id })))
          throw new SwitchyardError('E_NOT_FOUND', 'No such trigger.');
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'trigger.deleted',
          targetKind: 'trigger',
          targetId: id,
        });
        return true;
      }),
  }),
);
