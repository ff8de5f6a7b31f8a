import {
  selectActionDurations,
  selectHealthMinutes,
  selectLastRetentionPass,
  type ActionDuration,
  type HealthMinute,
  type RetentionPass,
} from '../../../db/queries/health.ts';
import { builder } from '../builder.ts';
import { inTenant } from '../context.ts';

const HealthMinuteRef = builder.objectRef<HealthMinute>('HealthMinute').implement({
  description: 'One minute of the tenant’s runs: the queue at its end, and what finished in it.',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime', description: 'The start of the minute.' }),
    queued: t.exposeInt('queued', { description: 'Runs created and not started yet.' }),
    inFlight: t.exposeInt('inFlight', { description: 'Runs created and not finished yet.' }),
    oldestQueuedSeconds: t.exposeFloat('oldestQueuedSeconds', {
      description: 'How long the oldest run not started had waited (0: none).',
    }),
    succeeded: t.exposeInt('succeeded'),
    failed: t.exposeInt('failed'),
    dead: t.exposeInt('dead'),
    canceled: t.exposeInt('canceled'),
  }),
});

const ActionDurationRef = builder.objectRef<ActionDuration>('ActionDuration').implement({
  description: 'Step attempts of one action finished in the last hour.',
  fields: (t) => ({
    actionId: t.exposeID('actionId'),
    actionName: t.exposeString('actionName'),
    attempts: t.exposeInt('attempts'),
    p50Ms: t.exposeInt('p50Ms'),
    p95Ms: t.exposeInt('p95Ms'),
  }),
});

const RetentionPassRef = builder.objectRef<RetentionPass>('RetentionPass').implement({
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime' }),
    deleted: t.expose('deleted', { type: 'JSON', description: 'Rows removed, per kind.' }),
  }),
});

type Health = {
  now: Date;
  minutes: HealthMinute[];
  actions: ActionDuration[];
  lastRetentionPass: RetentionPass | null;
};

const HealthRef = builder.objectRef<Health>('TenantHealth').implement({
  description:
    'The tenant’s runs over the last hour, computed from the runs themselves (no sampling): the queue per minute, outcomes per minute, step durations per action, and retention’s last pass.',
  fields: (t) => ({
    now: t.expose('now', { type: 'DateTime' }),
    minutes: t.field({ type: [HealthMinuteRef], resolve: (h) => h.minutes }),
    actions: t.field({
      type: [ActionDurationRef],
      description: 'Slowest p95 first, at most 20.',
      resolve: (h) => h.actions,
    }),
    lastRetentionPass: t.field({
      type: RetentionPassRef,
      nullable: true,
      description: 'Null until retention has removed something for this tenant.',
      resolve: (h) => h.lastRetentionPass,
    }),
  }),
});

builder.queryField('health', (t) =>
  t.field({
    type: HealthRef,
    authScopes: { admin: true },
    resolve: (_r, _a, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const now = ctx.services.clock.now();
        return {
          now,
          minutes: await selectHealthMinutes(db, { tenantId, now }),
          actions: await selectActionDurations(db, { tenantId, now, limit: 20 }),
          lastRetentionPass: await selectLastRetentionPass(db, { tenantId }),
        };
      }),
  }),
);
