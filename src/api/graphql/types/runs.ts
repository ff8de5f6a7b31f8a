import { selectExecutionLogs, type ExecutionLogRow } from '../../../db/queries/execution-logs.ts';
import { selectRunWaiting } from '../../../db/queries/jobs.ts';
import {
  selectLoopItems,
  selectStepRuns,
  type LoopItemRow,
  type StepRunRow,
} from '../../../db/queries/step-runs.ts';
import {
  selectChildRuns,
  selectRun,
  selectRuns,
  type RunRow,
} from '../../../db/queries/workflow-runs.ts';
import { recordManualSampleIn } from '../../../engine/trigger-sample.ts';
import { selectWorkflow } from '../../../db/queries/workflows.ts';
import {
  selectDeadLetterPage,
  selectDeadLetterReplayPreview,
  type DeadLetterRow,
  type ReplayPreviewVersion,
} from '../../../db/queries/dead-letters.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import type { RunId, TriggerId, WorkflowId } from '../../../model/ids.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant, tenantOf, type GraphQLContext } from '../context.ts';
import { decodeCursor, encodeCursor, pageSize, toPage, type Page } from '../pagination.ts';
import { requestTraceparent } from '../../routes/tracing.ts';
import { WorkflowRef, WorkflowVersionRef } from './workflows.ts';
import { selectVersion } from '../../../db/queries/workflow-versions.ts';

const RunStatusEnum = builder.enumType('RunStatus', {
  values: ['queued', 'running', 'waiting', 'succeeded', 'failed', 'canceled', 'dead'] as const,
});
const ReplayFromEnum = builder.enumType('ReplayFrom', {
  values: { FAILED_STEP: { value: 'failed-step' }, START: { value: 'start' } } as const,
});

const StepRunRef = builder.objectRef<StepRunRow>('StepRun').implement({
  description: 'One attempt of one step.',
  fields: (t) => ({
    id: t.exposeID('id'),
    stepId: t.exposeString('stepId'),
    stepIndex: t.exposeInt('stepIndex'),
    attempt: t.exposeInt('attempt'),
    status: t.exposeString('status', {
      description: 'running, waiting, succeeded, failed, skipped or canceled.',
    }),
    input: t.expose('input', { type: 'JSON', nullable: true }),
    output: t.expose('output', { type: 'JSON', nullable: true }),
    errorCode: t.exposeString('errorCode', { nullable: true }),
    errorMessage: t.exposeString('errorMessage', { nullable: true }),
    errorRetryable: t.exposeBoolean('errorRetryable', { nullable: true }),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    itemIndex: t.exposeInt('itemIndex', {
      nullable: true,
      description: 'The forEach item (from 0) this attempt ran for; null outside a loop body.',
    }),
    branch: t.exposeString('branch', {
      nullable: true,
      description: 'A switch step’s chosen branch (`default` for the default); null otherwise.',
    }),
    waitUntil: t.expose('waitUntil', {
      type: 'DateTime',
      nullable: true,
      description:
        'A waiting step’s deadline: when a delay or waitUntil goes on, when a waitForEvent or a child run’s wait times out.',
    }),
    childRunId: t.exposeID('childRunId', {
      nullable: true,
      description: 'The child run a callWorkflow step started.',
    }),
  }),
});

const LoopItemRef = builder.objectRef<LoopItemRow>('LoopItem').implement({
  description:
    'One item of a forEach: the furthest body step it reached (its latest attempt) and that attempt’s status.',
  fields: (t) => ({
    itemIndex: t.exposeInt('itemIndex'),
    stepId: t.exposeString('stepId'),
    status: t.exposeString('status'),
    errorCode: t.exposeString('errorCode', { nullable: true }),
    errorMessage: t.exposeString('errorMessage', { nullable: true }),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
  }),
});

const LoopItemPageRef = builder.objectRef<Page<LoopItemRow>>('LoopItemPage').implement({
  fields: (t) => ({
    nodes: t.field({ type: [LoopItemRef], resolve: (p) => p.nodes }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
  }),
});

const ExecutionLogRef = builder.objectRef<ExecutionLogRow>('ExecutionLog').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    cursor: t.string({ resolve: (l) => encodeCursor([l.loggedAt.toISOString(), l.id]) }),
    stepRunId: t.exposeID('stepRunId', { nullable: true }),
    level: t.exposeString('level'),
    message: t.exposeString('message'),
    data: t.expose('data', { type: 'JSON', nullable: true }),
    loggedAt: t.expose('loggedAt', { type: 'DateTime' }),
  }),
});

const WaitReasonEnum = builder.enumType('RunWaitReason', {
  description: 'Why a running run’s next step waits in the queue.',
  values: {
    RETRY: { value: 'retry', description: 'The backoff before the next attempt.' },
    RATE_LIMIT: {
      value: 'rate_limit',
      description: 'The action’s rate limit is reached; no attempt was counted.',
    },
    CIRCUIT_BREAKER: {
      value: 'circuit_breaker',
      description: 'The host’s circuit breaker is open; no attempt was counted.',
    },
  } as const,
});

const RunWaitingRef = builder
  .objectRef<{ until: Date; reason: 'retry' | 'rate_limit' | 'circuit_breaker' }>('RunWaiting')
  .implement({
    description: 'A running run whose next step is not executing: it waits until `until`.',
    fields: (t) => ({
      until: t.expose('until', { type: 'DateTime' }),
      reason: t.expose('reason', { type: WaitReasonEnum }),
    }),
  });

export const RunRef = builder.objectRef<RunRow>('WorkflowRun');
// Declared apart from its fields: `childRuns` names the page type, whose nodes are runs.
const RunPageRef = builder.objectRef<Page<RunRow>>('WorkflowRunPage');

RunRef.implement({
  description: 'One execution of a workflow version.',
  fields: (t) => ({
    id: t.exposeID('id'),
    workflowId: t.exposeID('workflowId'),
    workflow: t.field({
      type: WorkflowRef,
      nullable: true,
      description:
        'The workflow (for its name); a list of runs names its workflows with `workflows(ids:)`.',
      resolve: (r, _a, ctx) =>
        inTenant(ctx, async (db) => (await selectWorkflow(db, { id: r.workflowId })) ?? null),
    }),
    workflowVersionId: t.exposeID('workflowVersionId'),
    workflowVersion: t.field({
      type: WorkflowVersionRef,
      nullable: true,
      description:
        'The version the run executes (a test run’s draft included): its definition draws the path the run took.',
      resolve: (r, _a, ctx) =>
        inTenant(ctx, async (db) => (await selectVersion(db, { id: r.workflowVersionId })) ?? null),
    }),
    triggerId: t.exposeID('triggerId', { nullable: true }),
    idempotencyKey: t.exposeString('idempotencyKey', { nullable: true }),
    input: t.expose('input', { type: 'JSON' }),
    status: t.exposeString('status'),
    output: t.expose('output', { type: 'JSON', nullable: true }),
    error: t.expose('error', { type: 'JSON', nullable: true }),
    traceContext: t.exposeString('traceContext', { nullable: true }),
    replayOfRunId: t.exposeID('replayOfRunId', { nullable: true }),
    parentRunId: t.exposeID('parentRunId', {
      nullable: true,
      description: 'A child run’s parent: the run whose callWorkflow step started it.',
    }),
    parentStepIndex: t.exposeInt('parentStepIndex', {
      nullable: true,
      description: 'The parent’s step (its `stepIndex`) that started this child run.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    waiting: t.field({
      type: RunWaitingRef,
      nullable: true,
      description:
        'Set while the run’s next step waits in the queue (a retry’s backoff, a rate limit, an open circuit breaker) rather than executing; null otherwise.',
      resolve: async (r, _a, ctx) => {
        if (r.status !== 'running' && r.status !== 'queued') return null;
        const w = await inTenant(ctx, (db, tenantId) =>
          selectRunWaiting(db, { tenantId, runId: r.id }),
        );
        if (!w) return null;
        const reason: 'retry' | 'rate_limit' | 'circuit_breaker' =
          w.lastErrorCode === 'E_CIRCUIT_OPEN'
            ? 'circuit_breaker'
            : w.lastErrorCode === 'E_RATE_LIMITED'
              ? 'rate_limit'
              : 'retry';
        return { until: w.until, reason };
      },
    }),
    steps: t.field({
      type: [StepRunRef],
      description:
        'Every attempt of every step, in program order (`stepIndex`, then `itemIndex`, then `attempt`).',
      args: {
        withItems: t.arg.boolean({
          required: false,
          description:
            'False: leave out the attempts of forEach items (page those with `loopItems`). Default true.',
        }),
      },
      resolve: (r, args, ctx) =>
        inTenant(ctx, (db, tenantId) =>
          selectStepRuns(db, { tenantId, runId: r.id, withItems: args.withItems ?? true }),
        ),
    }),
    loopItems: t.field({
      type: LoopItemPageRef,
      description:
        'The items of a forEach in item order, each with the furthest of `stepIds` (the loop’s body steps) it reached; `after` = a previous `endCursor`.',
      args: {
        stepIds: t.arg.stringList(),
        first: t.arg.int({ required: false }),
        after: t.arg.string({ required: false }),
      },
      resolve: (r, args, ctx) => {
        const limit = pageSize(args.first);
        const key = decodeCursor(args.after);
        const afterItem = key && typeof key[0] === 'number' ? key[0] : -1;
        return inTenant(ctx, async (db, tenantId) =>
          toPage(
            await selectLoopItems(db, {
              tenantId,
              runId: r.id,
              stepIds: args.stepIds,
              afterItem,
              limit: limit + 1,
            }),
            limit,
            (i) => [i.itemIndex],
          ),
        );
      },
    }),
    childRuns: t.field({
      type: RunPageRef,
      description:
        'The child runs this run started (callWorkflow), oldest first; `after` = a previous `endCursor`.',
      args: {
        first: t.arg.int({ required: false }),
        after: t.arg.string({ required: false }),
      },
      resolve: (r, args, ctx) => {
        const limit = pageSize(args.first);
        const key = decodeCursor(args.after);
        const after = key ? { createdAt: new Date(String(key[0])), id: String(key[1]) } : null;
        return inTenant(ctx, async (db, tenantId) =>
          toPage(
            await selectChildRuns(db, { tenantId, parentRunId: r.id, after, limit: limit + 1 }),
            limit,
            (c) => [c.createdAt.toISOString(), c.id],
          ),
        );
      },
    }),
    logs: t.field({
      type: [ExecutionLogRef],
      args: {
        first: t.arg.int({ required: false }),
        after: t.arg.string({ required: false, description: 'A previous page’s last `cursor`.' }),
        search: t.arg.string({ required: false }),
      },
      resolve: (r, args, ctx) =>
        inTenant(ctx, (db) =>
          selectExecutionLogs(db, {
            tenantId: r.tenantId,
            runId: r.id,
            after: logCursor(args.after),
            limit: pageSize(args.first),
            search: args.search ?? null,
          }),
        ),
    }),
  }),
});

RunPageRef.implement({
  fields: (t) => ({
    nodes: t.field({ type: [RunRef], resolve: (p) => p.nodes }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
  }),
});

const RunFilterInput = builder.inputType('RunFilter', {
  fields: (t) => ({
    statuses: t.field({ type: [RunStatusEnum], required: false }),
    workflowId: t.id({ required: false }),
    triggerId: t.id({ required: false }),
    createdFrom: t.field({ type: 'DateTime', required: false }),
    createdTo: t.field({ type: 'DateTime', required: false }),
    isTest: t.boolean({
      required: false,
      description:
        'True: only test runs of drafts (testWorkflow, testStep). Absent or false: test runs are left out.',
    }),
  }),
});

builder.queryField('runs', (t) =>
  t.field({
    type: RunPageRef,
    authScopes: { viewer: true },
    description: 'Newest first, with cursor pagination (`after` = a previous `endCursor`).',
    args: {
      filter: t.arg({ type: RunFilterInput, required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const limit = pageSize(args.first);
      const cursor = decodeCursor(args.after);
      const after = cursor
        ? { createdAt: new Date(String(cursor[0])), id: String(cursor[1]) }
        : null;
      const f = args.filter;
      return inTenant(ctx, async (db) => {
        const rows = await selectRuns(db, {
          tenantId: tenantOf(ctx).tenantId,
          filter: {
            statuses: f?.statuses ?? null,
            workflowId: f?.workflowId ? (String(f.workflowId) as WorkflowId) : null,
            triggerId: f?.triggerId ? (String(f.triggerId) as TriggerId) : null,
            createdFrom: f?.createdFrom ?? null,
            createdTo: f?.createdTo ?? null,
            isTest: f?.isTest ?? null,
          },
          after,
          limit: limit + 1,
        });
        const nodes = rows.slice(0, limit);
        const last = nodes[nodes.length - 1];
        return {
          nodes,
          hasNextPage: rows.length > limit,
          endCursor: last ? encodeCursor([last.createdAt.toISOString(), last.id]) : null,
        };
      });
    },
  }),
);

builder.queryField('run', (t) =>
  t.field({
    type: RunRef,
    nullable: true,
    authScopes: { viewer: true },
    args: { id: t.arg.id() },
    resolve: (_r, args, ctx) =>
      inTenant(
        ctx,
        async (db, tenantId) =>
          (await selectRun(db, { tenantId, runId: String(args.id) as RunId })) ?? null,
      ),
  }),
);

const StartedRunRef = builder
  .objectRef<{ run: RunRow; duplicate: boolean }>('StartedRun')
  .implement({
    fields: (t) => ({
      run: t.field({ type: RunRef, resolve: (r) => r.run }),
      duplicate: t.exposeBoolean('duplicate', {
        description: 'True when the idempotency key matched an earlier run with the same input.',
      }),
    }),
  });

function engineActor(ctx: GraphQLContext) {
  const a = auditActor(ctx);
  return { kind: a.actorKind, id: a.actorId, ip: a.ip, requestId: a.requestId };
}

builder.mutationField('triggerWorkflow', (t) =>
  t.field({
    type: StartedRunRef,
    authScopes: { editor: true },
    description:
      'Starts a run by hand. The same idempotency key with the same input returns the first run.',
    args: {
      workflowId: t.arg.id(),
      input: t.arg({ type: 'JSON', required: false }),
      idempotencyKey: t.arg.string({ required: false }),
    },
    // One transaction: the run, its first job and its audit event commit together.
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const started = await ctx.services.engine.startRunIn(db, {
          tenantId,
          workflowId: String(args.workflowId) as WorkflowId,
          input: args.input ?? {},
          idempotencyKey: args.idempotencyKey ?? null,
          traceparent: requestTraceparent(ctx.reply.request),
        });
        const run = await selectRun(db, { tenantId, runId: started.runId });
        if (!run)
          throw new SwitchyardError('E_RUN_NOT_FOUND', 'The run vanished after it was started.');
        await recordManualSampleIn(db, {
          tenantId,
          workflowId: run.workflowId,
          payload: run.input,
          receivedAt: ctx.services.clock.now(),
        });
        // Last before commit: the event holds the tenant's audit chain head until then.
        if (!started.duplicate) {
          await recordAudit(db, {
            tenantId,
            ...auditActor(ctx),
            action: 'run.triggered',
            targetKind: 'workflow_run',
            targetId: started.runId,
            metadata: { workflowId: String(args.workflowId) },
          });
        }
        return { run, duplicate: started.duplicate };
      }),
  }),
);

builder.mutationField('cancelRun', (t) =>
  t.field({
    type: RunRef,
    authScopes: { editor: true },
    args: { id: t.arg.id() },
    resolve: async (_r, args, ctx) => {
      const { tenantId } = tenantOf(ctx);
      const runId = String(args.id) as RunId;
      await ctx.services.engine.cancelRun({ tenantId, runId, actor: engineActor(ctx) });
      const run = await inTenant(ctx, (db) => selectRun(db, { tenantId, runId }));
      if (!run) throw new SwitchyardError('E_RUN_NOT_FOUND', 'No such run.');
      return run;
    },
  }),
);

const DeadLetterRef = builder.objectRef<DeadLetterRow>('DeadLetter').implement({
  description:
    'A run that ended dead (retries exhausted) or failed, with its error and context; replay creates a new, linked run.',
  fields: (t) => ({
    id: t.exposeID('id'),
    runId: t.exposeID('runId'),
    workflowId: t.exposeID('workflowId'),
    failedStepId: t.exposeString('failedStepId', { nullable: true }),
    error: t.expose('error', { type: 'JSON' }),
    context: t.expose('context', { type: 'JSON' }),
    retryCount: t.exposeInt('retryCount'),
    replayedAt: t.expose('replayedAt', { type: 'DateTime', nullable: true }),
    replayRunId: t.exposeID('replayRunId', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const DeadLetterFilterInput = builder.inputType('DeadLetterFilter', {
  fields: (t) => ({
    ids: t.idList({ required: false }),
    workflowId: t.id({ required: false }),
    stepId: t.string({ required: false, description: 'The failed step’s id in the definition.' }),
    errorCode: t.string({ required: false }),
    since: t.field({ type: 'DateTime', required: false }),
    until: t.field({ type: 'DateTime', required: false }),
    pending: t.boolean({ required: false }),
  }),
});

function toFilter(f: typeof DeadLetterFilterInput.$inferInput | null | undefined, limit: number) {
  return {
    limit,
    ...(f?.ids ? { ids: f.ids.map(String) } : {}),
    ...(f?.workflowId ? { workflowId: String(f.workflowId) as WorkflowId } : {}),
    ...(f?.stepId ? { stepId: f.stepId } : {}),
    ...(f?.errorCode ? { errorCode: f.errorCode } : {}),
    ...(f?.since ? { since: f.since } : {}),
    ...(f?.until ? { until: f.until } : {}),
    ...(f?.pending != null ? { pending: f.pending } : {}),
  };
}

const DeadLetterPageRef = builder.objectRef<Page<DeadLetterRow>>('DeadLetterPage').implement({
  fields: (t) => ({
    nodes: t.field({ type: [DeadLetterRef], resolve: (p) => p.nodes }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
  }),
});

builder.queryField('deadLetters', (t) =>
  t.field({
    type: DeadLetterPageRef,
    authScopes: { viewer: true },
    description: 'Newest first, with cursor pagination (`after` = a previous `endCursor`).',
    args: {
      filter: t.arg({ type: DeadLetterFilterInput, required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const limit = pageSize(args.first);
      const cursor = decodeCursor(args.after);
      return inTenant(ctx, async (db, tenantId) =>
        toPage(
          await selectDeadLetterPage(db, {
            tenantId,
            filter: toFilter(args.filter, limit + 1),
            after: cursor ? { createdKey: String(cursor[0]), id: String(cursor[1]) } : null,
          }),
          limit,
          (d) => [d.createdKey, d.id],
        ),
      );
    },
  }),
);

const ReplayPreviewVersionRef = builder
  .objectRef<ReplayPreviewVersion>('ReplayPreviewVersion')
  .implement({
    description: 'The failed runs of one workflow version matching a filter.',
    fields: (t) => ({
      workflowId: t.exposeID('workflowId'),
      workflowVersionId: t.exposeID('workflowVersionId'),
      version: t.exposeInt('version'),
      total: t.exposeInt('total'),
      pending: t.exposeInt('pending', { description: 'Those not replayed yet.' }),
    }),
  });

const ReplayPreviewRef = builder
  .objectRef<{ asOf: Date; versions: ReplayPreviewVersion[] }>('ReplayPreview')
  .implement({
    description:
      'What replaying a whole filter would start: every page of it, by workflow version (a replay runs on its failed run’s version).',
    fields: (t) => ({
      asOf: t.expose('asOf', {
        type: 'DateTime',
        description:
          'Pass as the filter’s `until` when replaying, so failures after the preview (a replay that fails again) are not replayed in the same pass.',
      }),
      total: t.int({ resolve: (p) => p.versions.reduce((n, v) => n + v.total, 0) }),
      pending: t.int({
        description: 'Those not replayed yet: a replay without `again` starts this many runs.',
        resolve: (p) => p.versions.reduce((n, v) => n + v.pending, 0),
      }),
      versions: t.field({ type: [ReplayPreviewVersionRef], resolve: (p) => p.versions }),
    }),
  });

builder.queryField('replayPreview', (t) =>
  t.field({
    type: ReplayPreviewRef,
    authScopes: { viewer: true },
    args: { filter: t.arg({ type: DeadLetterFilterInput }) },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const asOf = ctx.services.clock.now();
        const { limit: _limit, ...filter } = toFilter(args.filter, 1);
        const until = filter.until && filter.until < asOf ? filter.until : asOf;
        const versions = await selectDeadLetterReplayPreview(db, {
          tenantId,
          filter: { ...filter, until },
        });
        return { asOf, versions };
      }),
  }),
);

const ReplayedRef = builder
  .objectRef<{
    deadLetterId: string;
    runId: string;
    newRunId: string;
    alreadyReplayed: boolean;
  }>('ReplayedRun')
  .implement({
    fields: (t) => ({
      deadLetterId: t.exposeID('deadLetterId'),
      runId: t.exposeID('runId'),
      newRunId: t.exposeID('newRunId'),
      alreadyReplayed: t.exposeBoolean('alreadyReplayed', {
        description:
          'True when the dead letter had been replayed before: `newRunId` is that replay and no new run was made.',
      }),
    }),
  });

builder.mutationField('replayRuns', (t) =>
  t.field({
    type: [ReplayedRef],
    authScopes: { editor: true },
    description:
      'Replays the dead letters matching the filter (at most 100 per call): new runs linked to the old. A dead letter already replayed answers its existing replay unless `again` is true. Every replay sends the original run’s Idempotency-Key values.',
    args: {
      filter: t.arg({ type: DeadLetterFilterInput }),
      from: t.arg({ type: ReplayFromEnum, required: false }),
      again: t.arg.boolean({
        required: false,
        description: 'Replay again the dead letters that were replayed before (a new run each).',
      }),
    },
    resolve: (_r, args, ctx) =>
      ctx.services.engine.replayDeadLetters({
        tenantId: tenantOf(ctx).tenantId,
        filter: toFilter(args.filter, 100),
        from: args.from ?? 'failed-step',
        again: args.again ?? false,
        actor: engineActor(ctx),
      }),
  }),
);

function logCursor(after: string | null | undefined): { loggedAt: Date; id: string } | null {
  const key = decodeCursor(after);
  return key ? { loggedAt: new Date(String(key[0])), id: String(key[1]) } : null;
}
