/**
 * The health dashboard (issue 16) for admins: the queue, the last hour of runs and step
 * durations, open circuit breakers (reset by hand, audited), the workers holding the tenant's
 * work, runs waiting to retry, and retention's last pass.
 *
 * Tenant isolation: every figure is the caller's tenant's own (its share of the queue, its runs,
 * steps, breakers and audit), read under withTenant so that row security applies. The
 * system-wide queue (all tenants) is for operators, who read it from Prometheus (/metrics);
 * GraphQL has no operator role, so no tenant ever sees another's figures here.
 */
import { listCircuitBreakers, resetCircuitBreaker } from '../../../db/queries/circuit-breakers.ts';
import {
  countFinishedRunsByMinute,
  selectHeldJobs,
  selectLastRetentionPass,
  selectRunBacklogByMinute,
  selectStepDurationP95ByAction,
  selectTenantQueueNow,
  selectWaitingRuns,
  type ActionDuration,
  type BacklogPoint,
  type HeldJob,
  type RetentionPass,
  type TenantQueueNow,
} from '../../../db/queries/health.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant } from '../context.ts';
import { CircuitBreakerRef } from './breakers.ts';

const HOUR_MS = 60 * 60 * 1000;
/** Dashboard lists are top-N views, not pages: the slowest actions, the soonest waits. */
const LIST_LIMIT = 50;
const WORKER_JOBS_LIMIT = 200;

const outcomes = ['succeeded', 'failed', 'canceled', 'dead'] as const;
type Outcome = (typeof outcomes)[number];
type RunsMinute = { minute: Date } & Record<Outcome, number>;
type WaitingReason = 'retry' | 'rate_limit' | 'circuit_breaker';
type WaitingRun = {
  runId: string;
  workflowId: string;
  workflowName: string;
  until: Date;
  reason: WaitingReason;
};
type HealthWorker = { id: string; leaseExpiresAt: Date; running: HeldJob[] };
type Health = {
  generatedAt: Date;
  since: Date;
  queue: TenantQueueNow;
  backlog: BacklogPoint[];
  runsPerMinute: RunsMinute[];
  stepDurations: ActionDuration[];
  circuitBreakers: Awaited<ReturnType<typeof listCircuitBreakers>>;
  workers: HealthWorker[];
  waitingRuns: WaitingRun[];
  lastRetentionPass: RetentionPass | null;
};

const QueueNowRef = builder.objectRef<TenantQueueNow>('HealthQueue').implement({
  description: 'The tenant’s jobs in the queue now (one job is one step of a run).',
  fields: (t) => ({
    due: t.exposeInt('due', { description: 'Due now, waiting for a worker.' }),
    delayed: t.exposeInt('delayed', {
      description: 'Due later: a retry’s backoff, a rate-limit or circuit-breaker deferral.',
    }),
    running: t.exposeInt('running', { description: 'Held by a worker.' }),
    oldestDueSeconds: t.exposeFloat('oldestDueSeconds', {
      description: 'How long the oldest due job has waited; 0 when none is due.',
    }),
  }),
});

const BacklogPointRef = builder.objectRef<BacklogPoint>('HealthBacklogPoint').implement({
  description: 'Runs waiting and in flight at one minute boundary (from the runs’ timestamps).',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime' }),
    waiting: t.exposeInt('waiting', { description: 'Created, not started yet.' }),
    inFlight: t.exposeInt('inFlight', { description: 'Created, not finished yet.' }),
    oldestWaitingSeconds: t.exposeFloat('oldestWaitingSeconds', {
      description: 'How long the oldest waiting run had waited; 0 when none.',
    }),
  }),
});

const RunsMinuteRef = builder.objectRef<RunsMinute>('HealthRunsMinute').implement({
  description: 'Runs that ended in one minute, by final status.',
  fields: (t) => ({
    minute: t.expose('minute', { type: 'DateTime', description: 'The minute’s start.' }),
    succeeded: t.exposeInt('succeeded'),
    failed: t.exposeInt('failed'),
    canceled: t.exposeInt('canceled'),
    dead: t.exposeInt('dead'),
  }),
});

const ActionDurationRef = builder.objectRef<ActionDuration>('HealthActionDuration').implement({
  description: 'Step attempts of one action that ended in the last hour, and their p95.',
  fields: (t) => ({
    actionId: t.exposeID('actionId'),
    appKey: t.exposeString('appKey'),
    actionKey: t.exposeString('actionKey'),
    actionName: t.exposeString('actionName'),
    attempts: t.exposeInt('attempts'),
    p95Ms: t.exposeInt('p95Ms', { description: '95th percentile of attempt durations, in ms.' }),
  }),
});

const WorkerJobRef = builder.objectRef<HeldJob>('HealthWorkerJob').implement({
  description: 'A step a worker is executing.',
  fields: (t) => ({
    runId: t.exposeID('runId'),
    workflowId: t.exposeID('workflowId'),
    workflowName: t.exposeString('workflowName'),
    stepId: t.exposeString('stepId'),
    leaseExpiresAt: t.expose('leaseExpiresAt', { type: 'DateTime' }),
  }),
});

const WorkerRef = builder.objectRef<HealthWorker>('HealthWorker').implement({
  description:
    'A worker alive for this tenant: it holds a lease on one of the tenant’s jobs that has not expired (there is no worker registry; idle workers are not listed).',
  fields: (t) => ({
    id: t.exposeString('id', { description: 'host:pid:random, as the worker names itself.' }),
    leaseExpiresAt: t.expose('leaseExpiresAt', {
      type: 'DateTime',
      description: 'The latest of its leases (it extends them while it works).',
    }),
    running: t.field({ type: [WorkerJobRef], resolve: (w) => w.running }),
  }),
});

const WaitingRunRef = builder.objectRef<WaitingRun>('HealthWaitingRun').implement({
  description: 'A run whose next step is due later, and why (as WorkflowRun.waiting).',
  fields: (t) => ({
    runId: t.exposeID('runId'),
    workflowId: t.exposeID('workflowId'),
    workflowName: t.exposeString('workflowName'),
    until: t.expose('until', { type: 'DateTime' }),
    reason: t.exposeString('reason', { description: 'retry, rate_limit or circuit_breaker.' }),
  }),
});

const RetentionPassRef = builder.objectRef<RetentionPass>('HealthRetentionPass').implement({
  description: 'Retention’s last pass that removed something for the tenant (its audit event).',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime' }),
    deleted: t.expose('deleted', { type: 'JSON', description: 'Rows removed, per table.' }),
  }),
});

const HealthRef = builder.objectRef<Health>('SystemHealth').implement({
  description:
    'The tenant’s view of the system’s health over the last hour (its own share of the queue, runs, steps and breakers; never another tenant’s).',
  fields: (t) => ({
    generatedAt: t.expose('generatedAt', { type: 'DateTime' }),
    since: t.expose('since', { type: 'DateTime', description: 'The start of the hour shown.' }),
    queue: t.field({ type: QueueNowRef, resolve: (h) => h.queue }),
    backlog: t.field({
      type: [BacklogPointRef],
      description: 'One point per minute of the last hour, oldest first.',
      resolve: (h) => h.backlog,
    }),
    runsPerMinute: t.field({
      type: [RunsMinuteRef],
      description: 'Sixty minutes, oldest first; minutes with no finished run count zeros.',
      resolve: (h) => h.runsPerMinute,
    }),
    stepDurations: t.field({
      type: [ActionDurationRef],
      description: `Per action, slowest p95 first (at most ${LIST_LIMIT}).`,
      resolve: (h) => h.stepDurations,
    }),
    circuitBreakers: t.field({
      type: [CircuitBreakerRef],
      description: 'Breakers not closed; openUntil is when an open one lets a probe call out.',
      resolve: (h) => h.circuitBreakers,
    }),
    workers: t.field({ type: [WorkerRef], resolve: (h) => h.workers }),
    waitingRuns: t.field({
      type: [WaitingRunRef],
      description: `Soonest first (at most ${LIST_LIMIT}); queue.delayed counts them all.`,
      resolve: (h) => h.waitingRuns,
    }),
    lastRetentionPass: t.field({
      type: RetentionPassRef,
      nullable: true,
      resolve: (h) => h.lastRetentionPass,
    }),
  }),
});

builder.queryField('systemHealth', (t) =>
  t.field({
    type: HealthRef,
    authScopes: { admin: true },
    description: 'The health dashboard: the caller’s tenant’s figures over the last hour.',
    resolve: (_r, _a, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const now = ctx.services.clock.now();
        const since = new Date(now.getTime() - HOUR_MS);
        const window = { tenantId, since, now };
        const queue = await selectTenantQueueNow(db, { tenantId, now });
        const backlog = await selectRunBacklogByMinute(db, window);
        const finished = await countFinishedRunsByMinute(db, window);
        const stepDurations = await selectStepDurationP95ByAction(db, {
          ...window,
          limit: LIST_LIMIT,
        });
        const circuitBreakers = await listCircuitBreakers(db, { tenantId });
        const held = await selectHeldJobs(db, { tenantId, now, limit: WORKER_JOBS_LIMIT });
        const waiting = await selectWaitingRuns(db, { tenantId, now, limit: LIST_LIMIT });
        const lastRetentionPass = await selectLastRetentionPass(db, { tenantId });
        return {
          generatedAt: now,
          since,
          queue,
          backlog,
          runsPerMinute: perMinute(finished, now),
          stepDurations,
          circuitBreakers,
          workers: byWorker(held),
          waitingRuns: waiting.map((w) => ({ ...w, reason: waitingReason(w.lastErrorCode) })),
          lastRetentionPass,
        };
      }),
  }),
);

builder.mutationField('resetCircuitBreaker', (t) =>
  t.boolean({
    authScopes: { admin: true },
    description:
      'Closes an open or half-open breaker by hand (audited as circuit_breaker.reset): the next call to the host goes out. Steps already deferred keep their retry time.',
    args: {
      host: t.arg.string(),
      connectionKey: t.arg.string({
        required: false,
        description: 'The breaker’s connectionKey (empty for calls without a connection).',
      }),
    },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const connectionKey = args.connectionKey ?? '';
        const before = await resetCircuitBreaker(db, { tenantId, host: args.host, connectionKey });
        if (!before)
          throw new SwitchyardError('E_NOT_FOUND', 'No open circuit breaker for this host.');
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'circuit_breaker.reset',
          targetKind: 'circuit_breaker',
          targetId: args.host,
          metadata: { connectionKey, previousState: before.state, failures: before.failures },
        });
        return true;
      }),
  }),
);

/** Sixty one-minute buckets ending with the current minute, zeros where nothing finished. */
function perMinute(rows: { minute: Date; status: string; count: number }[], now: Date) {
  const current = Math.floor(now.getTime() / 60_000) * 60_000;
  const buckets = new Map<number, RunsMinute>();
  for (let i = 59; i >= 0; i--) {
    const minute = new Date(current - i * 60_000);
    buckets.set(minute.getTime(), { minute, succeeded: 0, failed: 0, canceled: 0, dead: 0 });
  }
  for (const r of rows) {
    const b = buckets.get(r.minute.getTime());
    if (b && (outcomes as readonly string[]).includes(r.status)) b[r.status as Outcome] += r.count;
  }
  return [...buckets.values()];
}

function byWorker(jobs: HeldJob[]): HealthWorker[] {
  const out = new Map<string, HealthWorker>();
  for (const j of jobs) {
    const w = out.get(j.workerId) ?? {
      id: j.workerId,
      leaseExpiresAt: j.leaseExpiresAt,
      running: [],
    };
    if (j.leaseExpiresAt > w.leaseExpiresAt) w.leaseExpiresAt = j.leaseExpiresAt;
    w.running.push(j);
    out.set(j.workerId, w);
  }
  return [...out.values()];
}

/** The same reading as WorkflowRun.waiting: the last logged error code says why. */
function waitingReason(code: string | null): WaitingReason {
  if (code === 'E_CIRCUIT_OPEN') return 'circuit_breaker';
  if (code === 'E_RATE_LIMITED') return 'rate_limit';
  return 'retry';
}
