/**
 * One attempt of one claimed step: load what it needs, record its start (StepRun `running`),
 * run it through the StepExecutor with an abort signal, then record the outcome (outcome.ts).
 */
import type { ClaimedJob } from '../db/queries/jobs.ts';
import { deleteClaimedJob, relaxCommitDurability } from '../db/queries/jobs.ts';
import type { Queryable } from '../db/pool.ts';
import { insertStepAttempt, markLostAttempts } from '../db/queries/step-runs.ts';
import { finishRun, selectStepContext, type ActionRow } from '../db/queries/workflow-runs.ts';
import { withTenant } from '../db/tenant.ts';
import type { ActionId, AppId, ConnectionId, StepRunId } from '../model/ids.ts';
import type {
  ActionKind,
  ActionSpec,
  RetryPolicy,
  RetryStrategy,
  StepDefinition,
  StepExecutor,
  StepRequest,
  StepResult,
} from '../model/step.ts';
import type { EngineDeps } from './deps.ts';
import { recordOutcome, StaleClaim, type AttemptPlan, type Outcome } from './outcome.ts';
import { classifyFailure, type AttemptFailure } from './retry.ts';

export type AbortReason = 'canceled' | 'lease-lost' | 'shutdown';

/** A job this worker holds, with the controller that aborts its running step. */
export type Slot = {
  job: ClaimedJob;
  controller: AbortController;
  reason: AbortReason | undefined;
};

export type AttemptDeps = EngineDeps & { executor: StepExecutor; workerId: string };

/** How long a step may ignore its abort signal before the worker stops waiting for it. */
const ABORT_GRACE_MS = 1_000;

/** Policy when the action is gone: the failure is not retryable anyway. */
const NO_RETRY: RetryPolicy = {
  strategy: 'none',
  maxAttempts: 1,
  initialDelayMs: 0,
  maxDelayMs: 0,
};

export type Prepared =
  | { kind: 'done' }
  | { kind: 'execute'; plan: AttemptPlan; request: StepRequest; timeoutMs: number }
  | { kind: 'fail'; plan: AttemptPlan; failure: AttemptFailure };

/**
 * Runs the slot's steps: the first is prepared in its own transaction; each later one is
 * prepared in the transaction that records the previous one (one commit per step). Returns
 * a job claimed for a next step that was not started (`canContinue` said no), to give back.
 */
export async function runAttempts(
  deps: AttemptDeps,
  slot: Slot,
  canContinue: () => boolean,
): Promise<ClaimedJob | null> {
  try {
    let prepared = await withTenant(deps.pool, slot.job.tenantId, async (db) => {
      await relaxCommitDurability(db);
      return prepareIn(deps, db, slot.job);
    });
    for (;;) {
      let outcome: Outcome;
      switch (prepared.kind) {
        case 'done':
          return null;
        case 'fail':
          outcome = { kind: 'failed', error: classifyFailure(prepared.failure) };
          break;
        case 'execute': {
          const o = await execute(deps, slot, prepared.request, prepared.timeoutMs);
          if (o === null) return null; // canceled or lease lost: nothing of ours to write
          outcome = o;
          break;
        }
      }
      const next = await recordOutcome(
        deps,
        prepared.plan,
        outcome,
        canContinue() ? (db, job) => prepareIn(deps, db, job) : null,
      );
      if (!next) return null;
      slot.job = next.job;
      if (!next.prepared) return next.job;
      prepared = next.prepared;
    }
  } catch (err) {
    if (err instanceof StaleClaim) {
      deps.logger.info({ jobId: slot.job.jobId }, 'claim went stale; outcome discarded');
      return null;
    }
    throw err;
  }
}

/** Loads what the claimed step needs and records the start of its attempt (caller's transaction). */
async function prepareIn(deps: AttemptDeps, db: Queryable, job: ClaimedJob): Promise<Prepared> {
  const now = deps.clock.now();
  const guard = {
    tenantId: job.tenantId,
    jobId: job.jobId,
    attempt: job.attempt,
    workerId: deps.workerId,
  };
  const ctx = await selectStepContext(db, job);
  if (!ctx || (ctx.status !== 'queued' && ctx.status !== 'running')) {
    // The run is gone or final (a cancel deletes the job itself): drop the job if still ours.
    await deleteClaimedJob(db, guard);
    return { kind: 'done' };
  }
  if (job.stepIndex >= ctx.stepCount) {
    // A workflow without steps (or a job past the last step): the run is done.
    if (await deleteClaimedJob(db, guard)) {
      await finishRun(db, {
        tenantId: job.tenantId,
        runId: job.runId,
        status: 'succeeded',
        output: ctx.outputs,
        error: null,
        now,
      });
    }
    return { kind: 'done' };
  }
  const parsed = parseStep(ctx.step);
  const action = ctx.action ? toActionSpec(ctx.action) : null;
  const policy = action?.retry ?? NO_RETRY;
  const base = {
    tenantId: job.tenantId,
    runId: job.runId,
    workflowId: ctx.workflowId,
    jobId: job.jobId,
    attempt: job.attempt,
    stepIndex: job.stepIndex,
    stepCount: ctx.stepCount,
    stepId: typeof parsed === 'string' ? `#${job.stepIndex}` : parsed.id,
    onError: typeof parsed === 'string' ? ('fail' as const) : parsed.onError,
    policy,
    runInput: ctx.input,
    outputs: ctx.outputs,
    workerId: deps.workerId,
  };
  if (job.attempt > 1) {
    await markLostAttempts(db, {
      tenantId: job.tenantId,
      runId: job.runId,
      stepIndex: job.stepIndex,
      beforeAttempt: job.attempt,
      now,
    });
    if (job.attempt > policy.maxAttempts && action) {
      // The previous attempt was the last one and its worker died: no attempt is left.
      const plan: AttemptPlan = { ...base, stepRunId: null, countedAttempts: job.attempt - 1 };
      return {
        kind: 'fail',
        plan,
        failure: {
          kind: 'worker-lost',
          message: `The worker running attempt ${job.attempt - 1} (the last) stopped before it finished.`,
        },
      };
    }
  }
  const stepRunId: StepRunId | undefined = await insertStepAttempt(db, {
    tenantId: job.tenantId,
    runId: job.runId,
    stepId: base.stepId,
    stepIndex: job.stepIndex,
    attempt: job.attempt,
    jobId: job.jobId,
    workerId: deps.workerId,
    now,
  });
  if (!stepRunId) return { kind: 'done' }; // stale claim
  const plan: AttemptPlan = { ...base, stepRunId, countedAttempts: job.attempt };
  if (typeof parsed === 'string')
    return { kind: 'fail', plan, failure: { kind: 'invalid-step', message: parsed } };
  if (!action)
    return { kind: 'fail', plan, failure: { kind: 'action-missing', actionId: parsed.actionId } };
  const request: StepRequest = {
    step: parsed,
    action,
    context: {
      tenantId: job.tenantId,
      runId: job.runId,
      workflowId: ctx.workflowId,
      stepId: parsed.id,
      stepIndex: job.stepIndex,
      attempt: job.attempt,
      stepRunId,
      traceparent: ctx.traceContext,
      trigger: ctx.input,
      steps: Object.fromEntries(
        Object.entries(ctx.outputs).map(([id, output]) => [id, { output }]),
      ),
      runStartedAt: ctx.createdAt,
    },
  };
  return { kind: 'execute', plan, request, timeoutMs: action.timeoutMs };
}

/** Runs the executor; null when the attempt was aborted by a cancel or a lost lease. */
async function execute(
  deps: AttemptDeps,
  slot: Slot,
  request: StepRequest,
  timeoutMs: number,
): Promise<Outcome | null> {
  const timeout = new AbortController();
  const signal = AbortSignal.any([slot.controller.signal, timeout.signal]);
  let timer: NodeJS.Timeout | undefined;
  let giveUp: (() => void) | undefined;
  const late = new Promise<'late'>((resolve) => {
    // The step gets its timeout; if it ignores its signal, the grace ends the wait.
    timer = setTimeout(() => {
      timeout.abort(new Error('step timeout'));
      timer = setTimeout(() => resolve('late'), ABORT_GRACE_MS);
    }, timeoutMs);
    giveUp = () => {
      clearTimeout(timer);
      timer = setTimeout(() => resolve('late'), ABORT_GRACE_MS);
    };
  });
  const onAbort = () => giveUp?.();
  slot.controller.signal.addEventListener('abort', onAbort, { once: true });
  let result: StepResult | 'late' | { crashed: string };
  try {
    result = await Promise.race([
      deps.executor.execute(request, signal).catch((err: unknown) => ({
        crashed: err instanceof Error ? err.message : String(err),
      })),
      late,
    ]);
  } finally {
    clearTimeout(timer);
    slot.controller.signal.removeEventListener('abort', onAbort);
  }
  if (slot.controller.signal.aborted) {
    switch (slot.reason) {
      case 'shutdown':
        return { kind: 'released' };
      case 'canceled':
      case 'lease-lost':
      case undefined:
        return null;
    }
  }
  if (result === 'late' || (timeout.signal.aborted && !('status' in result))) {
    return { kind: 'failed', error: classifyFailure({ kind: 'timeout', timeoutMs }) };
  }
  if ('crashed' in result) {
    return {
      kind: 'failed',
      error: classifyFailure({ kind: 'executor-crashed', message: result.crashed }),
    };
  }
  switch (result.status) {
    case 'succeeded':
      return { kind: 'succeeded', input: result.input, output: result.output };
    case 'skipped':
      return { kind: 'skipped' };
    case 'failed':
      if (timeout.signal.aborted)
        return { kind: 'failed', error: classifyFailure({ kind: 'timeout', timeoutMs }) };
      return {
        kind: 'failed',
        input: result.input,
        error: classifyFailure({ kind: 'step-error', error: result.error }),
      };
  }
}

/** A step of the definition, or a message saying what is wrong with it. */
function parseStep(raw: unknown): StepDefinition | string {
  if (typeof raw !== 'object' || raw === null) return 'The step definition is not an object.';
  const s = raw as Record<string, unknown>;
  if (typeof s.id !== 'string' || s.id.length === 0) return 'The step has no id.';
  if (typeof s.actionId !== 'string') return `Step ${s.id} has no actionId.`;
  const onError = s.onError === 'continue' ? 'continue' : 'fail';
  const step: StepDefinition = {
    id: s.id,
    actionId: s.actionId as ActionId,
    input: s.input ?? {},
    onError,
    connectionId: typeof s.connectionId === 'string' ? (s.connectionId as ConnectionId) : null,
    if: typeof s.if === 'string' ? s.if : null,
  };
  return step;
}

function toActionSpec(a: ActionRow): ActionSpec {
  return {
    id: a.id as ActionId,
    appId: a.app_id as AppId,
    appKey: a.app_key,
    key: a.key,
    kind: a.kind as ActionKind,
    inputSchema: a.input_schema,
    outputSchema: a.output_schema,
    implementation: a.implementation,
    baseUrl: a.base_url,
    retry: {
      strategy: a.retry_strategy as RetryStrategy,
      maxAttempts: a.max_attempts,
      initialDelayMs: a.initial_delay_ms,
      maxDelayMs: a.max_delay_ms,
    },
    timeoutMs: a.timeout_ms,
    rateLimit:
      a.rate_limit_requests !== null && a.rate_limit_per_seconds !== null
        ? { requests: a.rate_limit_requests, perSeconds: a.rate_limit_per_seconds }
        : null,
  };
}
