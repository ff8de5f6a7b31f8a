import { searchExecutionLogs, type ExecutionLogHit } from '../../../db/queries/execution-logs.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import { builder } from '../builder.ts';
import { inTenant } from '../context.ts';
import { decodeCursor, pageSize, toPage, type Page } from '../pagination.ts';

const LogLevelEnum = builder.enumType('LogLevel', {
  values: ['debug', 'info', 'warn', 'error'] as const,
});

const ExecutionLogHitRef = builder.objectRef<ExecutionLogHit>('ExecutionLogHit').implement({
  description: 'A log line found across runs, with the run and step it belongs to.',
  fields: (t) => ({
    id: t.exposeID('id'),
    runId: t.exposeID('runId'),
    workflowId: t.exposeID('workflowId'),
    stepId: t.exposeString('stepId', {
      nullable: true,
      description: 'The step’s id in the definition; null for a line of the run itself.',
    }),
    stepRunId: t.exposeID('stepRunId', { nullable: true }),
    level: t.exposeString('level'),
    message: t.exposeString('message'),
    data: t.expose('data', { type: 'JSON', nullable: true }),
    loggedAt: t.expose('loggedAt', { type: 'DateTime' }),
  }),
});

const ExecutionLogPageRef = builder.objectRef<Page<ExecutionLogHit>>('ExecutionLogPage').implement({
  fields: (t) => ({
    nodes: t.field({ type: [ExecutionLogHitRef], resolve: (p) => p.nodes }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
  }),
});

const ExecutionLogFilterInput = builder.inputType('ExecutionLogFilter', {
  fields: (t) => ({
    text: t.string({
      required: false,
      description:
        'Found anywhere in the message, case-insensitive, taken literally. Give a time range on large tenants: the search reads the lines newest first until the page is full.',
    }),
    levels: t.field({ type: [LogLevelEnum], required: false }),
    workflowId: t.id({ required: false }),
    stepId: t.string({ required: false, description: 'A step’s id in the definition.' }),
    runId: t.id({ required: false }),
    from: t.field({ type: 'DateTime', required: false, description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', required: false, description: 'Exclusive.' }),
  }),
});

/** IDs are checked by the schema (id-arguments.ts); an empty one means no filter. */
const idOrNull = (v: string | number | null | undefined): string | null =>
  v === null || v === undefined || v === '' ? null : String(v);

builder.queryField('executionLogs', (t) =>
  t.field({
    type: ExecutionLogPageRef,
    authScopes: { viewer: true },
    description:
      'Log lines across the tenant’s runs, newest first, with cursor pagination (`after` = a previous `endCursor`).',
    args: {
      filter: t.arg({ type: ExecutionLogFilterInput, required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const limit = pageSize(args.first);
      const cursor = decodeCursor(args.after);
      const f = args.filter;
      const text = f?.text?.trim() || null;
      if (f?.from && f.to && f.from.getTime() >= f.to.getTime())
        throw new SwitchyardError('E_VALIDATION', '`from` must be before `to`.', { field: 'to' });
      const filter = {
        text,
        levels: f?.levels?.length ? [...f.levels] : null,
        workflowId: idOrNull(f?.workflowId),
        stepId: f?.stepId?.trim() || null,
        runId: idOrNull(f?.runId),
        from: f?.from ?? null,
        to: f?.to ?? null,
      };
      return inTenant(ctx, async (db, tenantId) =>
        toPage(
          await searchExecutionLogs(db, {
            tenantId,
            filter,
            after: cursor ? { loggedKey: String(cursor[0]), id: String(cursor[1]) } : null,
            limit: limit + 1,
          }),
          limit,
          (l) => [l.loggedKey, l.id],
        ),
      );
    },
  }),
);
