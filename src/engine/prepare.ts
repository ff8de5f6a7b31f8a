/**
 * Preparing attempts: what a step needs (run, step definition, action, earlier outputs) and the
 * record of its start (StepRun `running`, only while the claim is current).
 *
 * The jobs a claim hands out are prepared together, per tenant: their contexts in one
 * statement and their starts in one more, in one transaction (group commit, group-commit.ts).
 * A run that goes on to its next step on the same worker is not read again: its pinned
 * version's steps (immutable), input and outputs stay with the slot (`RunFacts`), and the next
 * attempt is started by the statement that records the previous one (transitions.ts).
 */
import type { ClaimedJob } from '../db/queries/jobs.ts';
import { deleteClaimedJob } from '../db/queries/jobs.ts';
import type { Queryable } from '../db/pool.ts';
import { selectStepContexts } from '../db/queries/step-context.ts';
import { markLostAttempts, startStepAttempts } from '../db/queries/step-runs.ts';
import { finishRun, type ActionRow } from '../db/queries/workflow-runs.ts';
import { withTenant } from '../db/tenant.ts';
import {
  isUuid,
  type ActionId,
  type AppId,
  type ConnectionId,
  type RunId,
  type StepRunId,
  type TenantId,
  type WorkflowId,
} from '../model/ids.ts';
import type {
  ActionKind,
  ActionSpec,
  RetryPolicy,
  RetryStrategy,
  StepDefinition,
  StepRequest,
} from '../model/step.ts';
import type { EngineDeps } from './deps.ts';
import type { EngineObserver } from './observer.ts';
import { createGroupCommit, type GroupCommit } from './group-commit.ts';
import type { AttemptPlan, NextStart } from './outcome.ts';
import { INFRA_MAX_RETRIES, type AttemptFailure } from './retry.ts';
import type { RunChangeRow, RunChangeSender } from './run-changes.ts';

export type WorkerDeps = EngineDeps & {
  workerId: string;
  /** Told of every committed attempt outcome and run end (metrics). */
  observer?: EngineObserver;
  /** Wake the claim loop after this long: a job this worker put back becomes due then. */
  wakeAfter?: (delayMs: number) => void;
  /** Sends the run changes of attempt starts and transitions after commit (run-changes.ts). */
  runChanges?: RunChangeSender;
};

/** What a worker keeps about a run between its steps (read with the first one it prepares). */
export type RunFacts = {
  workflowId: WorkflowId;
  input: unknown;
  traceContext: string | null;
  /** A replay's original run, whose idempotency keys its outgoing calls reuse. */
  originRunId: RunId | null;
  createdAt: Date;
  /** A test run (testWorkflow, test-run.ts): each step runs once, no metrics, no dead letter. */
  isTest: boolean;
  /** The pinned version's `definition.steps` (versions are immutable). */
  steps: readonly unknown[];
};

export type Prepared =
  | { kind: 'done' }
  | {
      kind: 'execute';
      plan: AttemptPlan;
      run: RunFacts;
      request: StepRequest;
      timeoutMs: number;
    }
  | { kind: 'fail'; plan: AttemptPlan; run: RunFacts; failure: AttemptFailure };

/** Policy when the action is gone (the failure is not retryable anyway), or no retry is left. */
const NO_RETRY: RetryPolicy = {
  strategy: 'none',
  maxAttempts: 1,
  initialDelayMs: 0,
  maxDelayMs: 0,
};

/** Prepares claimed jobs, batched per tenant (one transaction for those arriving together). */
export function createPreparer(deps: WorkerDeps): GroupCommit<ClaimedJob, Prepared> {
  return createGroupCommit<ClaimedJob, Prepared>({
    maxItems: deps.config.workerConcurrency,
    commit: async (tenantId, jobs) => {
      const prepared = await withTenant(deps.pool, tenantId, (db) =>
        prepareClaimed(deps, db, tenantId, jobs),
      );
      // Committed: the runs whose attempt started are running (migration 0016).
      const started = prepared.flatMap((p): RunChangeRow[] =>
        p.kind !== 'done' && p.plan.stepRunId !== null
          ? [[p.plan.runId, p.plan.workflowId, 'running']]
          : [],
      );
      if (started.length > 0) deps.runChanges?.send(tenantId, started);
      return prepared.map((value) => ({ ok: true as const, value }));
    },
  });
}

/**
 * Loads what the claimed steps (of one tenant) need and records the start of their attempts,
 * in the caller's transaction; a Prepared per job, in order.
 */
export async function prepareClaimed(
  deps: WorkerDeps,
  db: Queryable,
  tenantId: TenantId,
  jobs: ClaimedJob[],
): Promise<Prepared[]> {
  const now = deps.clock.now();
  const contexts = await selectStepContexts(db, {
    tenantId,
    items: jobs.map((j) => ({ runId: j.runId, stepIndex: j.stepIndex })),
    // Attempt-start markers need not wait for the WAL flush (docs/architecture.md, Durability).
    relaxDurability: true,
  });
  const out: Prepared[] = jobs.map(() => ({ kind: 'done' }));
  const toStart: {
    index: number;
    run: RunFacts;
    outputs: Record<string, unknown>;
    counted: number;
  }[] = [];
  for (const [index, job] of jobs.entries()) {
    const ctx = contexts[index];
    const guard = { tenantId, jobId: job.jobId, attempt: job.attempt, workerId: deps.workerId };
    if (!ctx || (ctx.status !== 'queued' && ctx.status !== 'running')) {
      // The run is gone or final (a cancel deletes the job itself): drop the job if still ours.
      await deleteClaimedJob(db, guard);
      continue;
    }
    if (job.stepIndex >= ctx.stepCount) {
      // A workflow without steps (or a job past the last step): the run is done.
      if (await deleteClaimedJob(db, guard)) {
        await finishRun(db, {
          tenantId,
          runId: job.runId,
          status: 'succeeded',
          output: ctx.outputs,
          error: null,
          now,
        });
      }
      continue;
    }
    const run: RunFacts = {
      workflowId: ctx.workflowId,
      input: ctx.input,
      traceContext: ctx.traceContext,
      originRunId: ctx.originRunId,
      createdAt: ctx.createdAt,
      isTest: ctx.isTest,
      steps: ctx.steps as unknown[],
    };
    // Attempts before this one that count against maxAttempts: not those whose worker was lost.
    let counted = 0;
    if (job.attempt > 1) {
      counted = (
        await markLostAttempts(db, {
          tenantId,
          runId: job.runId,
          stepIndex: job.stepIndex,
          beforeAttempt: job.attempt,
          now,
        })
      ).countedAttempts;
      const losses = job.attempt - 1 - counted;
      if (losses > INFRA_MAX_RETRIES) {
        // Not run again; the run goes dead whatever attempts the action has left (no retry).
        const action = ctx.action ? toActionSpec(ctx.action) : null;
        out[index] = {
          kind: 'fail',
          plan: { ...planOf(deps, job, run, ctx.outputs, action, null, counted), policy: NO_RETRY },
          run,
          failure: { kind: 'worker-lost-repeatedly', losses },
        };
        continue;
      }
    }
    toStart.push({ index, run, outputs: ctx.outputs, counted });
  }
  if (toStart.length === 0) return out;
  const started = await startStepAttempts(db, {
    tenantId,
    workerId: deps.workerId,
    now,
    runChangesByCaller: deps.runChanges !== undefined,
    items: toStart.map(({ index, run }) => ({
      jobId: jobs[index]!.jobId,
      runId: jobs[index]!.runId,
      stepId: nextStartOf(run, jobs[index]!.stepIndex).stepId,
      stepIndex: jobs[index]!.stepIndex,
      attempt: jobs[index]!.attempt,
    })),
  });
  for (const { index, run, outputs, counted } of toStart) {
    const job = jobs[index]!;
    const stepRunId = started.get(job.runId);
    // No StepRun: the claim went stale (another worker took the job).
    if (stepRunId)
      out[index] = preparedFor(
        deps,
        job,
        run,
        outputs,
        stepRunId,
        contexts[index]!.action,
        counted,
      );
  }
  return out;
}

/** The step at `stepIndex` as an attempt needs to start it: its StepRun's step id, its action. */
export function nextStartOf(run: RunFacts, stepIndex: number): NextStart {
  const parsed = parseStep(run.steps[stepIndex]);
  if (typeof parsed === 'string') return { stepId: `#${stepIndex}`, actionId: null };
  return { stepId: parsed.id, actionId: isUuid(parsed.actionId) ? parsed.actionId : null };
}

/**
 * A started attempt (its StepRun recorded): the executor's request, or why it fails at once.
 * `countedBefore`: the earlier attempts of the step that count against maxAttempts.
 */
export function preparedFor(
  deps: WorkerDeps,
  job: ClaimedJob,
  run: RunFacts,
  outputs: Record<string, unknown>,
  stepRunId: StepRunId,
  actionRow: ActionRow | null,
  countedBefore = 0,
): Prepared {
  const parsed = parseStep(run.steps[job.stepIndex]);
  const action = actionRow ? toActionSpec(actionRow) : null;
  const plan = planOf(deps, job, run, outputs, action, stepRunId, countedBefore + 1);
  if (typeof parsed === 'string')
    return { kind: 'fail', plan, run, failure: { kind: 'invalid-step', message: parsed } };
  if (!action)
    return {
      kind: 'fail',
      plan,
      run,
      failure: { kind: 'action-missing', actionId: parsed.actionId },
    };
  const request: StepRequest = {
    step: parsed,
    action,
    context: {
      tenantId: job.tenantId,
      runId: job.runId,
      originRunId: run.originRunId,
      workflowId: run.workflowId,
      stepId: parsed.id,
      stepIndex: job.stepIndex,
      attempt: job.attempt,
      stepRunId,
      traceparent: run.traceContext,
      trigger: run.input,
      steps: Object.fromEntries(Object.entries(outputs).map(([id, output]) => [id, { output }])),
      runStartedAt: run.createdAt,
    },
  };
  return { kind: 'execute', plan, run, request, timeoutMs: action.timeoutMs };
}

function planOf(
  deps: WorkerDeps,
  job: ClaimedJob,
  run: RunFacts,
  outputs: Record<string, unknown>,
  action: ActionSpec | null,
  stepRunId: StepRunId | null,
  countedAttempts: number,
): AttemptPlan {
  const parsed = parseStep(run.steps[job.stepIndex]);
  return {
    tenantId: job.tenantId,
    runId: job.runId,
    workflowId: run.workflowId,
    jobId: job.jobId,
    attempt: job.attempt,
    countedAttempts,
    stepIndex: job.stepIndex,
    stepCount: run.steps.length,
    stepId: typeof parsed === 'string' ? `#${job.stepIndex}` : parsed.id,
    onError: typeof parsed === 'string' ? 'fail' : parsed.onError,
    // A test shows a failure at once rather than after the action's backoff.
    policy: (!run.isTest && action?.retry) || NO_RETRY,
    isTest: run.isTest,
    runInput: run.input,
    outputs,
    workerId: deps.workerId,
    stepRunId,
    actionKind: action?.kind ?? null,
    runCreatedAt: run.createdAt,
    attemptStartedAt: deps.clock.now(),
  };
}

/**
 * The earlier outputs with one more, keys in jsonb's order (shorter first, then bytewise), so
 * that a run going on in memory sees them as a run read back from the database would.
 */
export function withOutput(
  outputs: Record<string, unknown>,
  stepId: string,
  output: unknown,
): Record<string, unknown> {
  const keys = [...Object.keys(outputs).filter((k) => k !== stepId), stepId].sort(
    (a, b) =>
      Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)),
  );
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = k === stepId ? output : outputs[k];
  return out;
}

/** A step of the definition, or a message saying what is wrong with it. */
export function parseStep(raw: unknown): StepDefinition | string {
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
  // Only a test version carries pins (test-run.ts); saved versions refuse the field.
  if ('pinnedOutput' in s) step.pinnedOutput = s.pinnedOutput;
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
