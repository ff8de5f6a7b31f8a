import { selectAccessLog, type AccessLogRow } from '../../../db/queries/access-log.ts';
import { selectAuditEvents, type AuditEventRow } from '../../../db/queries/audit-events.ts';
import { builder } from '../builder.ts';
import { inTenant } from '../context.ts';
import { pageSize } from '../pagination.ts';

const AuditEventRef = builder.objectRef<AuditEventRow>('AuditEvent').implement({
  description: 'An immutable, hash-chained record of a critical action.',
  fields: (t) => ({
    seq: t.exposeInt('seq', {
      description: 'Position in the tenant’s chain; pass as `before` to page.',
    }),
    id: t.exposeID('id'),
    actorKind: t.exposeString('actorKind'),
    actorId: t.exposeString('actorId', { nullable: true }),
    action: t.exposeString('action'),
    targetKind: t.exposeString('targetKind', { nullable: true }),
    targetId: t.exposeString('targetId', { nullable: true }),
    outcome: t.exposeString('outcome'),
    metadata: t.expose('metadata', { type: 'JSON' }),
    ip: t.exposeString('ip', { nullable: true }),
    requestId: t.exposeString('requestId', { nullable: true }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime' }),
  }),
});

const AccessLogEntryRef = builder.objectRef<AccessLogRow>('AccessLogEntry').implement({
  description: 'One GraphQL operation or API-token use.',
  fields: (t) => ({
    id: t.exposeInt('id'),
    actorKind: t.exposeString('actorKind'),
    actorId: t.exposeString('actorId', { nullable: true }),
    tokenId: t.exposeID('tokenId', { nullable: true }),
    operationKind: t.exposeString('operationKind'),
    operationName: t.exposeString('operationName', { nullable: true }),
    outcome: t.exposeString('outcome'),
    durationMs: t.exposeInt('durationMs', { nullable: true }),
    ip: t.exposeString('ip', { nullable: true }),
    requestId: t.exposeString('requestId', { nullable: true }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime' }),
  }),
});

builder.queryField('auditEvents', (t) =>
  t.field({
    type: [AuditEventRef],
    authScopes: { admin: true },
    description: 'Newest first. Page with `before` (the smallest seq you have).',
    args: {
      first: t.arg.int({ required: false }),
      before: t.arg.int({ required: false }),
      action: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, (db) =>
        selectAuditEvents(db, {
          beforeSeq: args.before ?? null,
          limit: pageSize(args.first),
          action: args.action ?? null,
        }),
      ),
  }),
);

builder.queryField('accessLog', (t) =>
  t.field({
    type: [AccessLogEntryRef],
    authScopes: { admin: true },
    description: 'Newest first. Page with `before` (the smallest id you have).',
    args: { first: t.arg.int({ required: false }), before: t.arg.int({ required: false }) },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, (db) =>
        selectAccessLog(db, { beforeId: args.before ?? null, limit: pageSize(args.first) }),
      ),
  }),
);
