import { selectAccessLog, type AccessLogRow } from '../../../db/queries/access-log.ts';
import { selectAuditEvents, type AuditEventRow } from '../../../db/queries/audit-events.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import { builder } from '../builder.ts';
import { inTenant } from '../context.ts';
import { decodeCursor, pageSize, toPage, type Page } from '../pagination.ts';

const AuditEventRef = builder.objectRef<AuditEventRow>('AuditEvent').implement({
  description: 'An immutable, hash-chained record of a critical action.',
  fields: (t) => ({
    seq: t.exposeInt('seq', {
      description: 'Position in the tenant’s chain (the order of the trail).',
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

const AuditEventPageRef = builder.objectRef<Page<AuditEventRow>>('AuditEventPage').implement({
  fields: (t) => ({
    nodes: t.field({ type: [AuditEventRef], resolve: (p) => p.nodes }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
  }),
});

const AccessLogPageRef = builder.objectRef<Page<AccessLogRow>>('AccessLogPage').implement({
  fields: (t) => ({
    nodes: t.field({ type: [AccessLogEntryRef], resolve: (p) => p.nodes }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
  }),
});

const AuditActorKindEnum = builder.enumType('AuditActorKind', {
  values: ['user', 'token', 'system'] as const,
});
const AccessActorKindEnum = builder.enumType('AccessActorKind', {
  values: ['user', 'token', 'system', 'anonymous'] as const,
});

const AuditEventFilterInput = builder.inputType('AuditEventFilter', {
  fields: (t) => ({
    actorKind: t.field({ type: AuditActorKindEnum, required: false }),
    actorId: t.string({ required: false, description: 'A user id or an API token id.' }),
    action: t.string({
      required: false,
      description: 'Exact (`api_token.created`), or a prefix ending with "." (`api_token.`).',
    }),
    targetKind: t.string({ required: false }),
    targetId: t.string({ required: false }),
    from: t.field({ type: 'DateTime', required: false, description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', required: false, description: 'Exclusive.' }),
  }),
});

const AccessLogFilterInput = builder.inputType('AccessLogFilter', {
  fields: (t) => ({
    actorKind: t.field({ type: AccessActorKindEnum, required: false }),
    actorId: t.string({ required: false, description: 'A user id.' }),
    tokenId: t.id({ required: false }),
    operationName: t.string({ required: false }),
    outcome: t.string({
      required: false,
      description: '`ok`, or `error:` and the error code (`error:E_FORBIDDEN`).',
    }),
    from: t.field({ type: 'DateTime', required: false, description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', required: false, description: 'Exclusive.' }),
  }),
});

function checkRange(from: Date | null | undefined, to: Date | null | undefined): void {
  if (from && to && from.getTime() >= to.getTime())
    throw new SwitchyardError('E_VALIDATION', '`from` must be before `to`.', { field: 'to' });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

builder.queryField('auditEvents', (t) =>
  t.field({
    type: AuditEventPageRef,
    authScopes: { admin: true },
    description:
      'Newest first (the chain’s order), filtered, with cursor pagination (`after` = a previous `endCursor`).',
    args: {
      filter: t.arg({ type: AuditEventFilterInput, required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const limit = pageSize(args.first);
      const cursor = decodeCursor(args.after);
      const f = args.filter;
      checkRange(f?.from, f?.to);
      return inTenant(ctx, async (db, tenantId) =>
        toPage(
          await selectAuditEvents(db, {
            tenantId,
            beforeSeq: cursor ? Number(cursor[0]) : null,
            limit: limit + 1,
            filter: {
              actorKind: f?.actorKind ?? null,
              actorId: f?.actorId?.trim() || null,
              action: f?.action?.trim() || null,
              targetKind: f?.targetKind?.trim() || null,
              targetId: f?.targetId?.trim() || null,
              from: f?.from ?? null,
              to: f?.to ?? null,
            },
          }),
          limit,
          (e) => [e.seq],
        ),
      );
    },
  }),
);

builder.queryField('accessLog', (t) =>
  t.field({
    type: AccessLogPageRef,
    authScopes: { admin: true },
    description:
      'Newest first, filtered, with cursor pagination (`after` = a previous `endCursor`).',
    args: {
      filter: t.arg({ type: AccessLogFilterInput, required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const limit = pageSize(args.first);
      const cursor = decodeCursor(args.after);
      const f = args.filter;
      checkRange(f?.from, f?.to);
      const tokenId = f?.tokenId ? String(f.tokenId) : null;
      if (tokenId && !UUID.test(tokenId))
        throw new SwitchyardError('E_VALIDATION', 'tokenId is not a token id.', {
          field: 'tokenId',
        });
      return inTenant(ctx, async (db, tenantId) =>
        toPage(
          await selectAccessLog(db, {
            tenantId,
            // Entries are written with JavaScript times (milliseconds), so the cursor is exact.
            after: cursor
              ? { occurredAt: new Date(String(cursor[0])), id: Number(cursor[1]) }
              : null,
            limit: limit + 1,
            filter: {
              actorKind: f?.actorKind ?? null,
              actorId: f?.actorId?.trim() || null,
              tokenId,
              operationName: f?.operationName?.trim() || null,
              outcome: f?.outcome?.trim() || null,
              from: f?.from ?? null,
              to: f?.to ?? null,
            },
          }),
          limit,
          (e) => [e.occurredAt.toISOString(), e.id],
        ),
      );
    },
  }),
);
