import {
  maxDaysFor,
  readTenantSettings,
  updateTenantRetention,
  type TenantSettingsView,
} from '../../../accounts/tenant-settings.ts';
import { retentionBounds, type RetentionKind } from '../../../model/retention.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant } from '../context.ts';

type RetentionSettingShape = {
  days: number;
  tenantDays: number | null;
  defaultDays: number;
  minDays: number;
  maxDays: number;
  tenantConfigurable: boolean;
};

const RetentionSettingRef = builder.objectRef<RetentionSettingShape>('RetentionSetting').implement({
  description: 'How long one kind of data is kept, and what this tenant may change.',
  fields: (t) => ({
    days: t.exposeInt('days', {
      description: 'Days kept for this tenant: its own value, or the server default.',
    }),
    tenantDays: t.exposeInt('tenantDays', {
      nullable: true,
      description: 'The tenant’s own value; null when the server default applies.',
    }),
    defaultDays: t.exposeInt('defaultDays', {
      description: 'The server default (RETENTION_*_DAYS).',
    }),
    minDays: t.exposeInt('minDays', { description: 'Smallest value the tenant may set.' }),
    maxDays: t.exposeInt('maxDays', { description: 'Largest value the tenant may set.' }),
    tenantConfigurable: t.exposeBoolean('tenantConfigurable', {
      description: 'False when only the operator sets it (the access history).',
    }),
  }),
});

type RetentionSettingsShape = Record<
  'runs' | 'executionLogs' | 'auditEvents' | 'accessLog',
  RetentionSettingShape
>;

const RetentionSettingsRef = builder
  .objectRef<RetentionSettingsShape>('RetentionSettings')
  .implement({
    description:
      'Retention per kind of data. Removal runs on a schedule (hourly by default), so data may outlive its days by up to that interval; execution logs and the access history go a whole day at a time.',
    fields: (t) => ({
      runs: t.field({
        type: RetentionSettingRef,
        description: 'Finished runs, with their steps and dead letters.',
        resolve: (s) => s.runs,
      }),
      executionLogs: t.field({ type: RetentionSettingRef, resolve: (s) => s.executionLogs }),
      auditEvents: t.field({
        type: RetentionSettingRef,
        description: 'Removed oldest first, so the hash chain stays verifiable.',
        resolve: (s) => s.auditEvents,
      }),
      accessLog: t.field({ type: RetentionSettingRef, resolve: (s) => s.accessLog }),
    }),
  });

const TenantSettingsRef = builder.objectRef<TenantSettingsView>('TenantSettings').implement({
  description: 'Settings of the current tenant.',
  fields: (t) => ({
    retention: t.field({ type: RetentionSettingsRef, resolve: retentionShape }),
    updatedAt: t.expose('updatedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'Null until the tenant first saves a setting.',
    }),
  }),
});

const RetentionSettingsInput = builder.inputType('RetentionSettingsInput', {
  description:
    'Days to keep each kind of data. Leave a field out to keep it; null: server default.',
  fields: (t) => ({
    runDays: t.int({ required: false, description: '1 to 3650.' }),
    executionLogDays: t.int({
      required: false,
      description: '1 to the server default (logs can be kept shorter, not longer).',
    }),
    auditDays: t.int({ required: false, description: '30 to 3650.' }),
  }),
});

builder.queryField('tenantSettings', (t) =>
  t.field({
    type: TenantSettingsRef,
    authScopes: { viewer: true },
    resolve: (_root, _args, ctx) =>
      inTenant(ctx, (db, tenantId) =>
        readTenantSettings(db, { tenantId, defaults: ctx.services.settings.retention }),
      ),
  }),
);

builder.mutationField('updateTenantSettings', (t) =>
  t.field({
    type: TenantSettingsRef,
    authScopes: { admin: true },
    description: 'Changes the tenant’s retention (admins and owners); audited.',
    args: { retention: t.arg({ type: RetentionSettingsInput }) },
    resolve: (_root, args, ctx) =>
      inTenant(ctx, (db, tenantId) =>
        updateTenantRetention(db, {
          tenantId,
          defaults: ctx.services.settings.retention,
          changes: args.retention,
          actor: auditActor(ctx),
        }),
      ),
  }),
);

function retentionShape(v: TenantSettingsView): RetentionSettingsShape {
  const setting = (
    kind: RetentionKind,
    tenantDays: number | null,
    maxDays: number | null,
  ): RetentionSettingShape => ({
    days: v.effective[kind],
    tenantDays,
    defaultDays: v.defaults[kind],
    minDays: retentionBounds[kind].min,
    maxDays: maxDays ?? v.defaults[kind],
    tenantConfigurable: maxDays !== null,
  });
  return {
    runs: setting('runDays', v.overrides.runDays, maxDaysFor('runDays', v.defaults)),
    executionLogs: setting(
      'executionLogDays',
      v.overrides.executionLogDays,
      maxDaysFor('executionLogDays', v.defaults),
    ),
    auditEvents: setting('auditDays', v.overrides.auditDays, maxDaysFor('auditDays', v.defaults)),
    accessLog: setting('accessLogDays', null, null),
  };
}
