/**
 * Recording an attempt's outcome and moving the run on, in one transaction whose first
 * statement is the guarded write to the job (attempt + locked_by): when it matches nothing
 * the claim is stale (lease expired and re-claimed, or run canceled) and the transaction is
 * rolled back, so a stale worker never completes or fails anything.
 */
import type { ClaimedJob, JobId } from '../db/queries/jobs.ts';
import {
  advanceClaimedJob,
  notifyJobsDue,
  relaxCommitDurability,
  requeueClaimedJob,
  unclaimJob,
} from '../db/queries/jobs.ts';
import { insertDeadLetter } from '../db/queries/dead-letters.ts';
import { deleteStepAttempt, finishStepAttempt } from '../db/queries/step-runs.ts';
import { finishRunWithJob } from '../db/queries/workflow-runs.ts';
import type { Queryable } from '../db/pool.ts';
import { withTenant } from '../db/tenant.ts';
import type { RunId, StepRunId, TenantId, WorkflowId } from '../model/ids.ts';
import type { OnError, RetryPolicy } from '../model/step.ts';
import { addMs, type EngineDeps } from './deps.ts';
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

function ensure(ok: boolean): void {
  if (!ok) throw new StaleClaim();
}

export type Continuation<P> = { job: ClaimedJob; prepared: P | null };

/**
 * Records the outcome. When the run continues on this worker, returns the next step's claim,
 * prepared by `prepareNext` in this same transaction (one commit per step) when given.
 */
export async function recordOutcome<P>(
  deps: Pick<EngineDeps, 'pool' | 'clock' | 'random' | 'config'>,
  plan: AttemptPlan,
  outcome: Outcome,
  prepareNext: ((db: Queryable, job: ClaimedJob) => Promise<P>) | null = null,
): Promise<Continuation<P> | null> {
  const now = deps.clock.now();
  const cont = async (db: Queryable, job: ClaimedJob | null): Promise<Continuation<P> | null> =>
    job && { job, prepared: prepareNext ? await prepareNext(db, job) : null };
  return withTenant(deps.pool, plan.tenantId, async (db) => {
    if (deps.config.asyncCommit) await relaxCommitDurability(db);
    const finishStep = async (
      status: 'succeeded' | 'failed' | 'skipped',
      o: { input?: unknown; output?: unknown; error?: ClassifiedError },
    ) => {
      if (plan.stepRunId === null) return;
      await finishStepAttempt(db, {
        tenantId: plan.tenantId,
        stepRunId: plan.stepRunId,
        status,
        input: o.input,
        output: o.output,
        error: o.error
          ? { code: o.error.code, message: o.error.message, retryable: o.error.retryable }
          : null,
        now,
      });
    };
    switch (outcome.kind) {
      case 'succeeded': {
        const outputs = { ...plan.outputs, [plan.stepId]: outcome.output };
        const next = await advance(db, deps, plan, outputs, now);
        await finishStep('succeeded', { input: outcome.input, output: outcome.output });
        return cont(db, next);
      }
      case 'skipped': {
        const next = await advance(db, deps, plan, plan.outputs, now);
        await finishStep('skipped', {});
        return cont(db, next);
      }
      case 'failed': {
        const decision = decideAfterFailure(
          plan.policy,
          plan.countedAttempts,
          outcome.error,
          deps.random,
        );
        if (decision.kind === 'defer') {
          // Not an attempt: the claim is given back uncounted and its StepRun removed.
          ensure(await unclaimJob(db, { ...guardOf(plan), runAt: addMs(now, decision.delayMs) }));
          if (plan.stepRunId !== null)
            await deleteStepAttempt(db, { tenantId: plan.tenantId, stepRunId: plan.stepRunId });
          return null;
        }
        if (decision.kind === 'retry') {
          ensure(
            await requeueClaimedJob(db, { ...guardOf(plan), runAt: addMs(now, decision.delayMs) }),
          );
          await finishStep('failed', { input: outcome.input, error: outcome.error });
          if (decision.delayMs === 0) await notifyJobsDue(db);
          return null;
        }
        if (plan.onError === 'continue') {
          const next = await advance(db, deps, plan, plan.outputs, now);
          await finishStep('failed', { input: outcome.input, error: outcome.error });
          return cont(db, next);
        }
        const error = {
          code: outcome.error.code,
          message: outcome.error.message,
          retryable: outcome.error.retryable,
        };
        ensure(
          await finishRunWithJob(db, {
            ...guardOf(plan),
            runId: plan.runId,
            status: decision.status,
            output: plan.outputs,
            error: { ...error, stepId: plan.stepId, stepIndex: plan.stepIndex },
            now,
          }),
        );
        await finishStep('failed', { input: outcome.input, error: outcome.error });
        if (decision.status === 'dead') {
          await insertDeadLetter(db, {
            tenantId: plan.tenantId,
            runId: plan.runId,
            workflowId: plan.workflowId,
            failedStepId: plan.stepId,
            error,
            context: { input: plan.runInput, steps: plan.outputs, failedStepIndex: plan.stepIndex },
            retryCount: plan.countedAttempts,
            now,
          });
        }
        return null;
      }
      case 'released': {
        ensure(await requeueClaimedJob(db, { ...guardOf(plan), runAt: now }));
        await finishStep('failed', {
          error: {
            code: 'E_WORKER_LOST',
            message: 'The worker was stopped before the step finished; the step was released.',
            retryable: true,
          },
        });
        await notifyJobsDue(db);
        return null;
      }
    }
  });
}

function guardOf(plan: AttemptPlan) {
  return {
    tenantId: plan.tenantId,
    jobId: plan.jobId,
    attempt: plan.attempt,
    workerId: plan.workerId,
  };
}

/** The next step on this worker (same claim), or the run's success after the last step. */
async function advance(
  db: Queryable,
  deps: Pick<EngineDeps, 'config'>,
  plan: AttemptPlan,
  outputs: Record<string, unknown>,
  now: Date,
): Promise<ClaimedJob | null> {
  const nextStepIndex = plan.stepIndex + 1;
  if (nextStepIndex < plan.stepCount) {
    ensure(
      await advanceClaimedJob(db, {
        ...guardOf(plan),
        nextStepIndex,
        leaseUntil: addMs(now, deps.config.leaseMs),
      }),
    );
    return {
      tenantId: plan.tenantId,
      jobId: plan.jobId,
      runId: plan.runId,
      stepIndex: nextStepIndex,
      attempt: 1,
    };
  }
  ensure(
    await finishRunWithJob(db, {
      ...guardOf(plan),
      runId: plan.runId,
      status: 'succeeded',
      output: outputs,
      error: null,
      now,
    }),
  );
  return null;
}
