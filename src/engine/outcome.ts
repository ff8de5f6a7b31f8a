/**
 * Recording an attempt's outcome and moving the run on. An outcome becomes one step transition
 * (`transitionOf`, a pure function): the guarded write to the job (attempt + locked_by), the
 * StepRun's result, the run's end or the next step's first attempt, a dead letter. Transitions
 * are written by one statement (db/queries/step-transitions.ts), batched by the worker
 * (transitions.ts); when an item's guard matches nothing its claim is stale (lease expired and
 * re-claimed, or run canceled) and nothing of it is written, so a stale worker never completes
 * or fails anything.
 */
import type { LoopOp } from '../db/queries/for-each.ts';
import type { ClaimedJob, JobId } from '../db/queries/jobs.ts';
import {
  recordStepTransitions,
  type JsonText,
  type StepErrorColumns,
  type StepTransition,
  type TransitionResult,
} from '../db/queries/step-transitions.ts';
import { tenantStatements, withTenant } from '../db/tenant.ts';
import type { Queryable } from '../db/pool.ts';
import { assertNever } from '../model/errors.ts';
import type { RunId, StepRunId, TenantId, WorkflowId } from '../model/ids.ts';
import type { ErrorRoute, Next } from '../model/program.ts';
import type { ActionKind, OnError, RetryPolicy } from '../model/step.ts';
import { addMs, type EngineDeps, type Random } from './deps.ts';
import { applyLoopOps, itemEndOf, type ItemPlan } from './for-each-items.ts';
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
  /**
   * Where the run goes on after this instruction (the compiled program's `next`); absent: the
   * next index, or the end after the last (`stepCount`).
   */
  next?: Next;
  /** How a failure for good is routed (the instruction's onError); absent: `onError`. */
  errorRoute?: ErrorRoute;
  /** The first pc of the program's onFailure path, or null. */
  failurePc?: number | null;
  /** On the failure path: how the run ends once it is done (the original failure). */
  pendingEnd?: PendingEnd | null;
  /** `{{ error }}` for this step (after a goto): kept in the dead letter for a replay. */
  errorContext?: { code: string; message: string; stepId: string } | null;
  /** A forEach item's job (migration 0031): its loop; its end is the item's, not the run's. */
  item?: ItemPlan | null;
  /** `{{ loop }}` of an item's job, carried to its next body step on this worker. */
  loop?: { item: unknown; index: number } | null;
};

/** The original end of a run whose failure path runs (workflow_runs.pending_end, 0033). */
export type PendingEnd = {
  status: 'failed' | 'dead';
  /** The run's error column, as JSON text. */
  error: string;
  /** The run's dead letter, as JSON text (null for a test run). */
  deadLetter: string | null;
};

/** What a StepRun recorded outside this transition, or how it is to be finished. */
type StepRunMode = {
  /**
   * The StepRun already holds this outcome (a resumer wrote it): only the job and the run move.
   */
  recorded?: boolean;
  /** The StepRun is `waiting` (a wait decided now), not `running`. */
  fromWaiting?: boolean;
};

export type Outcome =
  | ({
      kind: 'succeeded';
      input: unknown;
      output: unknown;
      /** A switch: the chosen branch's pc (instead of the plan's `next`), its name. */
      next?: Next;
      branch?: string;
      /** StepRuns to record `skipped`: the steps of the branches not taken. */
      skip?: [stepId: string, stepIndex: number][];
    } & StepRunMode)
  | ({ kind: 'skipped'; skip?: [stepId: string, stepIndex: number][] } & StepRunMode)
  | ({
      kind: 'failed';
      error: ClassifiedError;
      input?: unknown;
      /** Routed otherwise than the plan's onError (waitForEvent's onTimeout). */
      route?: ErrorRoute;
    } & StepRunMode)
  /**
   * A wait: the job back in the queue until `until` (uncounted), the run `waiting`; the StepRun
   * becomes `waiting` (`again`: it already is, and stays so).
   */
  | {
      kind: 'wait';
      until: Date;
      input?: unknown;
      again?: boolean;
      /** A forEach starting: its loop starts with this wait (engine/for-each-items.ts). */
      loop?: LoopOp;
    }
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

/**
 * Starts the step at a pc in the transaction that moves the run there (null: only claim it).
 * A NextStart alone is the start of the next index (version 1's only way on).
 */
export type StartAt = ((pc: number) => NextStart | null) | NextStart | null;

/** Translates an outcome into its transition; `next` starts the next step when the run goes on. */
export function transitionOf(
  plan: AttemptPlan,
  outcome: Outcome,
  random: Random,
  next: StartAt = null,
): StepTransition {
  const t = transitionOfAnyRun(plan, outcome, random, next);
  // A test run (testWorkflow) is watched by the builder who started it: nothing to replay.
  return plan.isTest && t.deadLetter !== null ? { ...t, deadLetter: null } : t;
}

function transitionOfAnyRun(
  plan: AttemptPlan,
  outcome: Outcome,
  random: Random,
  next: StartAt,
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
    ...(plan.item ? { itemIndex: plan.item.index } : {}),
  };
  const mode: StepRunMode = outcome.kind === 'wait' || outcome.kind === 'released' ? {} : outcome;
  const finishStep = (
    status: 'succeeded' | 'failed' | 'skipped',
    o: { input?: unknown; output?: unknown; error?: ClassifiedError; branch?: string },
  ): StepTransition['stepRun'] =>
    plan.stepRunId === null || mode.recorded
      ? null
      : {
          op: 'finish',
          id: plan.stepRunId,
          status,
          input: json(o.input),
          output: json(o.output),
          error: o.error ? errorColumns(o.error) : null,
          ...(o.branch !== undefined ? { branch: o.branch } : {}),
          ...(mode.fromWaiting ? { expect: 'waiting' as const } : {}),
        };
  const skip = 'skip' in outcome && outcome.skip?.length ? { skip: json(outcome.skip) } : {};
  switch (outcome.kind) {
    case 'succeeded':
      return {
        ...base,
        ...skip,
        ...advance(plan, { ...plan.outputs, [plan.stepId]: outcome.output }, next, outcome.next),
        stepRun: finishStep('succeeded', {
          input: outcome.input,
          output: outcome.output,
          ...(outcome.branch !== undefined ? { branch: outcome.branch } : {}),
        }),
      };
    case 'skipped':
      return {
        ...base,
        ...skip,
        ...advance(plan, plan.outputs, next),
        stepRun: finishStep('skipped', {}),
      };
    case 'wait':
      return {
        ...base,
        ...(outcome.loop ? { loop: outcome.loop } : {}),
        job: { op: 'wait', until: outcome.until },
        stepRun:
          plan.stepRunId === null
            ? null
            : {
                op: 'finish',
                id: plan.stepRunId,
                status: 'waiting',
                input: json(outcome.input),
                output: null,
                error: null,
                waitUntil: outcome.until,
                // Waiting on: guarded like any decision on a waiting StepRun, so a resume or a
                // child's end that came while this claim looked loses nothing — the claim goes
                // stale (its lease runs out, the next claim takes the resolved outcome)
                // instead of putting the run back to sleep until the deadline.
                ...(outcome.again ? { expect: 'waiting' as const } : {}),
              },
      };
    case 'failed': {
      const failed = finishStep('failed', { input: outcome.input, error: outcome.error });
      // A control step's failure (or one a resumer recorded) is final: no action retries it.
      const decision =
        mode.recorded || mode.fromWaiting
          ? ({ kind: 'give-up', status: 'failed' } as const)
          : decideAfterFailure(plan.policy, plan.countedAttempts, outcome.error, random);
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
          const route = outcome.route ?? plan.errorRoute ?? { kind: plan.onError };
          const error = errorColumns(outcome.error);
          // `{{ error }}` for the steps after a goto, and on the failure path.
          const errorContext = json({
            code: error.code,
            message: error.message,
            stepId: plan.stepId,
          });
          if (route.kind === 'continue')
            return { ...base, ...advance(plan, plan.outputs, next), stepRun: failed };
          // An item's job never leaves its loop's body: a goto out of it fails the item.
          if (route.kind === 'goto' && !(plan.item && !inBody(plan.item, route.pc)))
            return {
              ...base,
              ...advance(plan, plan.outputs, next, route.pc),
              stepRun: failed,
              errorContext,
            };
          // In a forEach's body the item fails, not the run: the loop decides (onItemError).
          if (plan.item)
            return {
              ...base,
              job: { op: 'delete' },
              stepRun: failed,
              loop: itemEndOf(plan.item, { error }),
            };
          // Failed runs too: a run that ends in failure always leaves something to replay
          // (the failure may be ours, or fixed since by an edit of the action or connection).
          const end: PendingEnd = {
            status: decision.status,
            error: json({ ...error, stepId: plan.stepId, stepIndex: plan.stepIndex })!,
            deadLetter: json({
              workflowId: plan.workflowId,
              failedStepId: plan.stepId,
              error,
              context: {
                input: plan.runInput,
                steps: plan.outputs,
                failedStepIndex: plan.stepIndex,
                ...(plan.errorContext ? { error: plan.errorContext } : {}),
              },
              retryCount: plan.countedAttempts,
            }),
          };
          // The failure path runs first; the run ends with this failure once it is done.
          if (!plan.pendingEnd && plan.failurePc != null && plan.failurePc > plan.stepIndex)
            return {
              ...base,
              ...advance(plan, plan.outputs, next, plan.failurePc),
              stepRun: failed,
              errorContext,
              pendingEnd: JSON.stringify(end),
            };
          return { ...base, stepRun: failed, ...endAs(plan.pendingEnd ?? end, plan.outputs) };
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

function inBody(item: ItemPlan, pc: number): boolean {
  return pc >= item.bodyPc && pc < item.endPc;
}

/** Where the run goes after the plan's instruction when it does not jump. */
export function nextOf(plan: AttemptPlan): Next {
  if (plan.next !== undefined) return plan.next;
  return plan.stepIndex + 1 < plan.stepCount ? plan.stepIndex + 1 : 'end';
}

/**
 * The step at `to` (default: the plan's next) on this worker (same claim), or the run's end:
 * success, or on the failure path the original failure.
 */
function advance(
  plan: AttemptPlan,
  outputs: Record<string, unknown>,
  startAt: StartAt,
  to: Next = nextOf(plan),
): Pick<StepTransition, 'job' | 'finishRun' | 'start' | 'deadLetter' | 'loop'> {
  if (typeof to === 'number') {
    const start =
      typeof startAt === 'function' ? startAt(to) : to === plan.stepIndex + 1 ? startAt : null;
    return { job: { op: 'advance', nextStepIndex: to }, finishRun: null, start, deadLetter: null };
  }
  // A forEach item's body is done: its job goes, its result is recorded (for-each-items.ts).
  if (to === 'item-end' && plan.item)
    return {
      job: { op: 'delete' },
      finishRun: null,
      start: null,
      deadLetter: null,
      loop: itemEndOf(plan.item, { outputs }),
    };
  if (plan.pendingEnd) return endAs(plan.pendingEnd, outputs);
  return {
    job: { op: 'delete' },
    finishRun: { status: 'succeeded', output: json(outputs), error: json(null) },
    start: null,
    deadLetter: null,
  };
}

/** The run ends failed (or dead) with `end`'s error, its dead letter written. */
function endAs(
  end: PendingEnd,
  outputs: Record<string, unknown>,
): Pick<StepTransition, 'job' | 'finishRun' | 'start' | 'deadLetter'> {
  return {
    job: { op: 'delete' },
    finishRun: { status: end.status, output: json(outputs), error: end.error },
    start: null,
    deadLetter: end.deadLetter,
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
    ...(plan.item ? { itemIndex: plan.item.index, loopItem: plan.loop?.item ?? null } : {}),
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
    /** forEach: the items that ended items spawn are claimed for `workerId` (loopClaim). */
    claimLoopItems?: boolean;
  },
): Promise<TransitionResult[]> {
  const now = deps.clock.now();
  const record = (db: Queryable) =>
    recordStepTransitions(db, {
      ...p,
      now,
      leaseUntil: addMs(now, deps.config.leaseMs),
      relaxDurability: deps.config.asyncCommit,
    });
  // Without forEach work the statement is the whole transaction: one round trip.
  if (!p.items.some((t) => t.loop))
    return record(tenantStatements(deps.pool, p.tenantId, { genericPlans: true }));
  return withTenant(deps.pool, p.tenantId, async (db) => {
    const results = await record(db);
    // forEach: loop starts and item ends, once their guard held (no statement without them).
    const ops = p.items.flatMap((t, n) =>
      t.loop && results[n]?.ok ? [{ n, runId: t.runId, op: t.loop }] : [],
    );
    if (ops.length === 0) return results;
    const claimed = await applyLoopOps(db, {
      tenantId: p.tenantId,
      now,
      ops: ops.map(({ runId, op }) => ({ runId, op })),
      // Claimed for the slots that go on; queued when one of them cannot (a stopping worker).
      claim:
        p.claimLoopItems && !ops.some(({ op }) => op.op === 'end' && op.queueNext)
          ? { workerId: p.workerId, leaseUntil: addMs(now, deps.config.leaseMs) }
          : null,
    });
    if (claimed.size === 0) return results;
    const out = [...results];
    ops.forEach(({ n }, k) => {
      const job = claimed.get(k);
      if (job) out[n] = { ...out[n]!, loopClaim: job };
    });
    return out;
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
  next: { start: StartAt; prepare: (job: ClaimedJob, r: TransitionResult) => P } | null = null,
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
