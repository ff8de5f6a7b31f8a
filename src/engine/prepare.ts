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
import {
  selectActionRows,
  selectStepContexts,
  type LatestStepRun,
} from '../db/queries/step-context.ts';
import { markLostAttempts, startStepAttempts } from '../db/queries/step-runs.ts';
import { finishRun, type ActionRow } from '../db/queries/workflow-runs.ts';
import type { FirstStep, StartedAtIntake } from '../db/queries/workflow-runs-batch.ts';
import { lastStatement, withTenant } from '../db/tenant.ts';
import {
  isUuid,
  type RunId,
  type StepRunId,
  type TenantId,
  type WorkflowId,
} from '../model/ids.ts';
import type { Instruction, Program } from '../model/program.ts';
import type {
  ActionSpec,
  MappingEvaluator,
  RetryPolicy,
  StepContext,
  StepRequest,
} from '../model/step.ts';
import { toActionSpec } from './action-spec.ts';
import type { EngineDeps } from './deps.ts';
import { programOf } from './programs.ts';
import type { EngineObserver } from './observer.ts';
import { itemPlanOf, withLoopItems } from './for-each-items.ts';
import { createGroupCommit, type GroupCommit } from './group-commit.ts';
import type { AttemptPlan, NextStart, PendingEnd } from './outcome.ts';
import { INFRA_MAX_RETRIES, type AttemptFailure } from './retry.ts';
import type { RunChangeRow, RunChangeSender } from './run-changes.ts';

export { parseStep } from '../model/compile-program.ts';

export type WorkerDeps = EngineDeps & {
  workerId: string;
  /** Told of every committed attempt outcome and run end (metrics). */
  observer?: EngineObserver;
  /** Wake the claim loop after this long: a job this worker put back becomes due then. */
  wakeAfter?: (delayMs: number) => void;
  /** Sends the run changes of attempt starts and transitions after commit (run-changes.ts). */
  runChanges?: RunChangeSender;
  /** Evaluates control steps' mappings in-process (a switch's `when`...); see control/. */
  mapping?: MappingEvaluator;
  /** Compiled programs by version id (versions are immutable): compiled once per worker. */
  programs?: Map<string, Program>;
  /**
   * By workflow, the first step of the version this worker last started a run of at its first
   * step (an action step only): the intake starts that step with the runs it hands over.
   */
  firstSteps?: Map<WorkflowId, KnownFirstStep>;
};

/** A version's first step as a worker knows it: with the version's compiled program. */
export type KnownFirstStep = FirstStep & { program: Program };

/** A handed-over run's first attempt, started by the intake's statement (intake.ts). */
export type IntakeStart = StartedAtIntake & {
  /** The compiled program of the version whose first step the intake started. */
  program: Program;
  workflowId: WorkflowId;
  traceContext: string | null;
  createdAt: Date;
};

/** Workflows whose first step a worker keeps; beyond this many the oldest is dropped. */
const MAX_FIRST_STEPS = 1_000;

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
  /** The pinned version's compiled program (versions are immutable). */
  program: Program;
  /** `{{ error }}` after a goto and on the failure path (workflow_runs.error_context). */
  errorContext: StepContext['error'];
  /** On the failure path: how the run ends once it is done (workflow_runs.pending_end). */
  pendingEnd: PendingEnd | null;
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
  | { kind: 'fail'; plan: AttemptPlan; run: RunFacts; failure: AttemptFailure }
  /** A control instruction, decided in the worker (control/index.ts). */
  | {
      kind: 'control';
      plan: AttemptPlan;
      run: RunFacts;
      instruction: Instruction;
      context: StepContext;
      /** The StepRun at this pc before this claim (a wait claimed again), else null. */
      latest: LatestStepRun | null;
    };

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
      const prepared = await withTenant(
        deps.pool,
        tenantId,
        (db) => prepareClaimed(deps, db, tenantId, jobs),
        { genericPlans: true },
      );
      // Committed: the runs whose attempt started are running (migration 0016).
      const started = prepared.flatMap((p): RunChangeRow[] =>
        p.kind !== 'done' && p.plan.stepRunId !== null && !(p.kind === 'control' && p.latest)
          ? [[p.plan.runId, p.plan.workflowId, 'running']]
          : [],
      );
      if (started.length > 0) deps.runChanges?.send(tenantId, started);
      return prepared.map((value) => ({ ok: true as const, value }));
    },
  });
}

/** A StepRun at a wait's pc that the claim decides from instead of starting a new attempt. */
function isWaitRecord(latest: LatestStepRun | null | undefined): latest is LatestStepRun {
  if (!latest) return false;
  if (latest.status === 'waiting') return true;
  // Resolved by a resumer (or a child's end) while the job waited: it was a wait.
  return (
    latest.wait_until !== null && (latest.status === 'succeeded' || latest.status === 'failed')
  );
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
    items: jobs.map((j) => ({
      runId: j.runId,
      stepIndex: j.stepIndex,
      itemIndex: j.itemIndex ?? null,
    })),
    // Attempt-start markers need not wait for the WAL flush (docs/architecture.md, Durability).
    relaxDurability: true,
  });
  // forEach items' jobs: `{{ loop.item }}` from the loop's chunks (no statement without one).
  jobs = await withLoopItems(deps, db, tenantId, jobs, contexts);
  const out: Prepared[] = jobs.map(() => ({ kind: 'done' }));
  const toStart: {
    index: number;
    run: RunFacts;
    outputs: Record<string, unknown>;
    counted: number;
  }[] = [];
  const runs: (RunFacts | undefined)[] = [];
  for (const [index, job] of jobs.entries()) {
    const ctx = contexts[index];
    const guard = { tenantId, jobId: job.jobId, attempt: job.attempt, workerId: deps.workerId };
    if (!ctx || !['queued', 'running', 'waiting'].includes(ctx.status)) {
      // The run is gone or final (a cancel deletes the job itself): drop the job if still ours.
      await deleteClaimedJob(db, guard);
      continue;
    }
    const program = programOf(deps, ctx.versionId, ctx.definition);
    if (job.stepIndex >= program.instructions.length) {
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
      program,
      errorContext: (ctx.errorContext as StepContext['error']) ?? null,
      pendingEnd: (ctx.pendingEnd as PendingEnd | null) ?? null,
    };
    runs[index] = run;
    if (job.stepIndex === 0 && job.attempt === 1 && job.itemIndex == null && !run.isTest)
      rememberFirstStep(deps, run, ctx.versionId);
    const instruction = program.instructions[job.stepIndex]!;
    if (instruction.kind !== 'action' && isWaitRecord(ctx.latest)) {
      // A wait claimed again: decided from its StepRun, no new attempt (control/index.ts).
      out[index] = preparedFor(
        deps,
        job,
        run,
        ctx.outputs,
        ctx.latest.id as StepRunId,
        null,
        0,
        ctx.latest,
      );
      continue;
    }
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
          itemIndex: job.itemIndex ?? null,
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
  // A version-2 pc is not an index of definition.steps: its action is read here (version 1's
  // came with the context, no statement more).
  const v2Actions = toStart.flatMap(({ index, run }) => {
    const id = run.program.version === 2 ? nextStartOf(run, jobs[index]!.stepIndex).actionId : null;
    return id ? [id] : [];
  });
  const actions =
    v2Actions.length > 0
      ? await selectActionRows(db, { tenantId, actionIds: [...new Set(v2Actions)] })
      : null;
  // The attempts' start is the transaction's last statement: its COMMIT goes with it.
  const started = await lastStatement(db, (last) =>
    startStepAttempts(last, {
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
    }),
  );
  for (const { index, run, outputs, counted } of toStart) {
    const job = jobs[index]!;
    const stepRunId = started.get(job.jobId);
    const actionId = actions ? nextStartOf(run, job.stepIndex).actionId : null;
    const action = actions
      ? actionId
        ? (actions.get(actionId) ?? null)
        : null
      : contexts[index]!.action;
    // No StepRun: the claim went stale (another worker took the job).
    if (stepRunId) out[index] = preparedFor(deps, job, run, outputs, stepRunId, action, counted);
  }
  return out;
}

/** Keeps the run's version's first step for the intake, if it is an action step. */
function rememberFirstStep(deps: WorkerDeps, run: RunFacts, versionId: string): void {
  const known = deps.firstSteps;
  if (!known || run.program.instructions[0]?.kind !== 'action') return;
  if (known.get(run.workflowId)?.versionId === versionId) return;
  known.delete(run.workflowId);
  if (known.size >= MAX_FIRST_STEPS) known.delete(known.keys().next().value!);
  known.set(run.workflowId, { versionId, ...nextStartOf(run, 0), program: run.program });
}

/**
 * The first attempt of a run the intake created, claimed and started for this worker: prepared
 * from what the intake had (the run is new: no earlier outputs, no error context), without a
 * statement.
 */
export function preparedAtIntake(deps: WorkerDeps, job: ClaimedJob, start: IntakeStart): Prepared {
  const run: RunFacts = {
    workflowId: start.workflowId,
    input: start.input,
    traceContext: start.traceContext,
    originRunId: null,
    createdAt: start.createdAt,
    isTest: false,
    program: start.program,
    errorContext: null,
    pendingEnd: null,
  };
  return preparedFor(deps, job, run, {}, start.stepRunId, start.action);
}

/** The instruction at `pc` as an attempt needs to start it: its StepRun's step id, its action. */
export function nextStartOf(run: RunFacts, pc: number): NextStart {
  const ins = run.program.instructions[pc];
  if (!ins) return { stepId: `#${pc}`, actionId: null };
  if (ins.kind !== 'action') return { stepId: ins.stepId, actionId: null };
  return { stepId: ins.stepId, actionId: isUuid(ins.step.actionId) ? ins.step.actionId : null };
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
  latest: LatestStepRun | null = null,
): Prepared {
  const ins = run.program.instructions[job.stepIndex];
  const action = actionRow ? toActionSpec(actionRow) : null;
  const plan = planOf(deps, job, run, outputs, action, stepRunId, countedBefore + 1);
  if (!ins)
    return {
      kind: 'fail',
      plan,
      run,
      failure: { kind: 'invalid-step', message: 'The step definition is not an object.' },
    };
  if (ins.kind === 'invalid')
    return { kind: 'fail', plan, run, failure: { kind: 'invalid-step', message: ins.message } };
  const context: StepContext = {
    tenantId: job.tenantId,
    runId: job.runId,
    originRunId: run.originRunId,
    workflowId: run.workflowId,
    stepId: ins.stepId,
    stepIndex: job.stepIndex,
    attempt: job.attempt,
    stepRunId,
    traceparent: run.traceContext,
    trigger: run.input,
    steps: Object.fromEntries(Object.entries(outputs).map(([id, output]) => [id, { output }])),
    runStartedAt: run.createdAt,
  };
  if (run.program.version === 2) context.error = run.errorContext ?? null;
  if (plan.loop) context.loop = plan.loop;
  if (ins.kind !== 'action')
    return { kind: 'control', plan, run, instruction: ins, context, latest };
  if (!action)
    return {
      kind: 'fail',
      plan,
      run,
      failure: { kind: 'action-missing', actionId: ins.step.actionId },
    };
  const request: StepRequest = { step: ins.step, action, context };
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
  const ins = run.program.instructions[job.stepIndex];
  const route = ins?.onError ?? { kind: 'fail' as const };
  const item = job.itemIndex != null ? itemPlanOf(run.program, job.stepIndex, job.itemIndex) : null;
  return {
    tenantId: job.tenantId,
    runId: job.runId,
    workflowId: run.workflowId,
    jobId: job.jobId,
    attempt: job.attempt,
    countedAttempts,
    stepIndex: job.stepIndex,
    stepCount: run.program.instructions.length,
    stepId: ins?.stepId ?? `#${job.stepIndex}`,
    onError: route.kind === 'continue' ? 'continue' : 'fail',
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
    next: ins?.next ?? 'end',
    errorRoute: route,
    failurePc: run.program.failurePc,
    pendingEnd: run.pendingEnd,
    errorContext: run.errorContext ?? null,
    ...(item ? { item, loop: { item: job.loopItem ?? null, index: item.index } } : {}),
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
