/**
 * Recording an attempt's outcome and moving the run on. An outcome becomes one step transition
 * (`transitionOf`, a pure function): the guarded write to the job (attempt + locked_by), the
 * StepRun's result, the run's end or the next step's first attempt, a dead letter. Transitions
 * are written by one statement (db/queries/step-transitions.ts), batched by the worker
 * (transitions.ts); when an item's guard matches nothing its claim is stale (lease expired and
 * re-claimed, or run canceled) and nothing of it is written, so a stale worker never completes
 * or fails anything.
 */
import type { ClaimedJob, JobId } from '../db/queries/jobs.ts';
import {
  recordStepTransitions,
  type JsonText,
  type StepErrorColumns,
  type StepTransition,
  type TransitionResult,
} from '../db/queries/step-transitions.ts';
import { withTenant } from '../db/tenant.ts';
import { assertNever } from '../model/errors.ts';
import type { RunId, StepRunId, TenantId, WorkflowId } from '../model/ids.ts';
import type { ActionKind, OnError, RetryPolicy } from '../model/step.ts';
import { addMs, type EngineDeps, type Random } from './deps.ts';
import { decideAfterFailure, type ClassifiedError } from './retry.ts';

export type AttemptPlan = {
  tenantId: TenantId;
  runId: RunId;
  workflowId: WorkflowId;
  jobId: JobId;
  /** The claim's attempt (the guard). */
  attempt: number;
  /** Attempts made so far, for the retry decision (less than `attempt` when none started). */
  countedAttempts: number;
  stepIndex: number;
  stepCount: number;
  stepId: string;
  onError: OnError;
  policy: RetryPolicy;
  runInput: unknown;
  outputs: Record<string, unknown>;
  workerId: string;
  stepRunId: StepRunId | null;
  /** The step's action kind (null: the action is gone or the step invalid), for metrics. */
  actionKind: ActionKind | null;
  /** A test run: its attempts and end are not observed (metrics), it leaves no dead letter. */
  isTest?: boolean;
  /** When the run was created, for its duration. */
  runCreatedAt: Date;
  /** When this attempt was prepared (its StepRun's start), for the step's duration. */
  attemptStartedAt: Date;
};

export type Outcome =
  | { kind: 'succeeded'; input: unknown; output: unknown }
  | { kind: 'skipped' }
  | { kind: 'failed'; error: ClassifiedError; input?: unknown }
  /** Interrupted by a graceful shutdown: back to the queue for another worker at once. */
  | { kind: 'released' };

export class StaleClaim extends Error {
  constructor() {
    super('the claim is stale');
    this.name = 'StaleClaim';
  }
}

/** The next step's first attempt, started in the transaction that records this outcome. */
export type NextStart = { stepId: string; actionId: string | null };

/** Translates an outcome into its transition; `next` starts the next step when the run goes on. */
export function transitionOf(
  plan: AttemptPlan,
  outcome: Outcome,
  random: Random,
  next: NextStart | null = null,
): StepTransition {
  const t = transitionOfAnyRun(plan, outcome, random, next);
  // A test run (testWorkflow) is watched by the builder who started it: nothing to replay.
  return plan.isTest && t.deadLetter !== null ? { ...t, deadLetter: null } : t;
}

function transitionOfAnyRun(
  plan: AttemptPlan,
  outcome: Outcome,
  random: Random,
  next: NextStart | null,
): StepTransition {
  const base = {
    jobId: plan.jobId,
    stepIndex: plan.stepIndex,
    attempt: plan.attempt,
    runId: plan.runId,
    finishRun: null,
    deadLetter: null,
    start: null,
    notify: false,
  };
  const finishStep = (
    status: 'succeeded' | 'failed' | 'skipped',
    o: { input?: unknown; output?: unknown; error?: ClassifiedError },
  ): StepTransition['stepRun'] =>
    plan.stepRunId === null
      ? null
      : {
          op: 'finish',
          id: plan.stepRunId,
          status,
          input: json(o.input),
          output: json(o.output),
          error: o.error ? errorColumns(o.error) : null,
        };
  switch (outcome.kind) {
    case 'succeeded':
      return {
        ...base,
        ...advance(plan, { ...plan.outputs, [plan.stepId]: outcome.output }, next),
        stepRun: finishStep('succeeded', { input: outcome.input, output: outcome.output }),
      };
    case 'skipped':
      return { ...base, ...advance(plan, plan.outputs, next), stepRun: finishStep('skipped', {}) };
    case 'failed': {
      const failed = finishStep('failed', { input: outcome.input, error: outcome.error });
      const decision = decideAfterFailure(plan.policy, plan.countedAttempts, outcome.error, random);
      switch (decision.kind) {
        case 'defer':
          // Not an attempt: the claim is given back uncounted and its StepRun removed.
          return {
            ...base,
            job: { op: 'unclaim', delayMs: decision.delayMs },
            stepRun: plan.stepRunId === null ? null : { op: 'delete', id: plan.stepRunId },
          };
        case 'retry':
          return {
            ...base,
            job: { op: 'requeue', delayMs: decision.delayMs },
            stepRun: failed,
            notify: decision.delayMs === 0,
          };
        case 'give-up': {
          if (plan.onError === 'continue')
            return { ...base, ...advance(plan, plan.outputs, next), stepRun: failed };
          const error = errorColumns(outcome.error);
          return {
            ...base,
            job: { op: 'delete' },
            stepRun: failed,
            finishRun: {
              status: decision.status,
              output: json(plan.outputs),
              error: json({ ...error, stepId: plan.stepId, stepIndex: plan.stepIndex }),
            },
            // Failed runs too: a run that ends in failure always leaves something to replay
            // (the failure may be ours, or fixed since by an edit of the action or connection).
            deadLetter: json({
              workflowId: plan.workflowId,
              failedStepId: plan.stepId,
              error,
              context: {
                input: plan.runInput,
                steps: plan.outputs,
                failedStepIndex: plan.stepIndex,
              },
              retryCount: plan.countedAttempts,
            }),
          };
        }
        default:
          return assertNever(decision);
      }
    }
    case 'released':
      return {
        ...base,
        job: { op: 'requeue', delayMs: 0 },
        stepRun: finishStep('failed', {
          error: {
            code: 'E_WORKER_LOST',
            message: 'The worker was stopped before the step finished; the step was released.',
            retryable: true,
          },
        }),
        notify: true,
      };
    default:
      return assertNever(outcome);
  }
}

/** The next step on this worker (same claim), or the run's success after the last step. */
function advance(
  plan: AttemptPlan,
  outputs: Record<string, unknown>,
  next: NextStart | null,
): Pick<StepTransition, 'job' | 'finishRun' | 'start'> {
  const nextStepIndex = plan.stepIndex + 1;
  if (nextStepIndex < plan.stepCount)
    return { job: { op: 'advance', nextStepIndex }, finishRun: null, start: next };
  return {
    job: { op: 'delete' },
    finishRun: { status: 'succeeded', output: json(outputs), error: json(null) },
    start: null,
  };
}

/** As the statements always stored values: undefined is SQL NULL, anything else its JSON. */
function json(v: unknown): JsonText {
  return v === undefined ? null : JSON.stringify(v);
}

function errorColumns(e: ClassifiedError): StepErrorColumns {
  return { code: e.code, message: e.message, retryable: e.retryable };
}

/** The claim of the next step when the transition kept it (advance), else null. */
export function nextClaim(plan: AttemptPlan, t: StepTransition): ClaimedJob | null {
  if (t.job.op !== 'advance') return null;
  return {
    tenantId: plan.tenantId,
    jobId: plan.jobId,
    runId: plan.runId,
    stepIndex: t.job.nextStepIndex,
    attempt: 1,
  };
}

/** Writes transitions of one tenant's attempts in one transaction; a result per item. */
export async function commitTransitions(
  deps: Pick<EngineDeps, 'pool' | 'clock' | 'config'>,
  p: {
    tenantId: TenantId;
    workerId: string;
    items: StepTransition[];
    /** The caller sends the run changes after the commit (migration 0016). */
    runChangesByCaller?: boolean;
  },
): Promise<TransitionResult[]> {
  return withTenant(deps.pool, p.tenantId, (db) => {
    const now = deps.clock.now();
    return recordStepTransitions(db, {
      ...p,
      now,
      leaseUntil: addMs(now, deps.config.leaseMs),
      relaxDurability: deps.config.asyncCommit,
    });
  });
}

export type Continuation<P> = { job: ClaimedJob; prepared: P | null };

/**
 * Records one outcome in its own transaction (the worker batches them: transitions.ts). When
 * the run continues on this worker, returns the next step's claim, started and prepared by
 * `next` when given. Throws StaleClaim when the claim is stale (then nothing was written).
 */
export async function recordOutcome<P>(
  deps: Pick<EngineDeps, 'pool' | 'clock' | 'random' | 'config'>,
  plan: AttemptPlan,
  outcome: Outcome,
  next: { start: NextStart; prepare: (job: ClaimedJob, r: TransitionResult) => P } | null = null,
): Promise<Continuation<P> | null> {
  const t = transitionOf(plan, outcome, deps.random, next?.start ?? null);
  const [r] = await commitTransitions(deps, {
    tenantId: plan.tenantId,
    workerId: plan.workerId,
    items: [t],
  });
  if (!r?.ok) throw new StaleClaim();
  const job = nextClaim(plan, t);
  if (!job) return null;
  return { job, prepared: next && t.start && r.stepRunId ? next.prepare(job, r) : null };
}
