/**
 * The attempts of one slot: run the prepared step through the StepExecutor with an abort
 * signal, record its outcome (transitions.ts, batched with the other slots'), and go on with
 * the run's next step, started and prepared by that same transaction, until the run leaves
 * this worker.
 */
import { unclaimJob, type ClaimedJob } from '../db/queries/jobs.ts';
import { withTenant } from '../db/tenant.ts';
import type { StepExecutor, StepRequest, StepResult } from '../model/step.ts';
import type { Outcome } from './outcome.ts';
import { StaleClaim } from './outcome.ts';
import type { Prepared, WorkerDeps } from './prepare.ts';
import { classifyFailure } from './retry.ts';
import { decideControl } from './control/index.ts';
import { recordWaitSpan } from './wait-span.ts';
import { endStepSpan, startStepSpan } from './step-span.ts';
import type { Transitions } from './transitions.ts';

export type AbortReason = 'canceled' | 'lease-lost' | 'shutdown';

/** A job this worker holds, with the controller that aborts its running step. */
export type Slot = {
  job: ClaimedJob;
  controller: AbortController;
  reason: AbortReason | undefined;
  /**
   * Its outcome is being recorded: the job may be changing hands (a forEach item's end claims
   * the next item for this slot), so a lease renewal that misses it proves nothing yet.
   */
  recording?: boolean;
};

export type AttemptDeps = WorkerDeps & {
  executor: StepExecutor;
  transitions: Transitions;
  /** Prepares a job this worker claimed on the way (a forEach's next item), as a claim's. */
  prepare?: (job: ClaimedJob) => Promise<Prepared>;
};

/** How long a step may ignore its abort signal before the worker stops waiting for it. */
const ABORT_GRACE_MS = 1_000;

/**
 * Runs the slot's steps, from the first (`first`, prepared with the claim's batch); each later
 * one is started by the transaction that records the previous one (one commit per step).
 * Returns a job claimed for a next step that was not started (`canContinue` said no), to give
 * back.
 */
export async function runAttempts(
  deps: AttemptDeps,
  slot: Slot,
  canContinue: () => boolean,
  first: Promise<Prepared>,
): Promise<ClaimedJob | null> {
  try {
    let prepared = await first;
    for (;;) {
      let outcome: Outcome;
      switch (prepared.kind) {
        case 'done':
          return null;
        case 'fail':
          outcome = { kind: 'failed', error: classifyFailure(prepared.failure) };
          break;
        case 'control':
          outcome = await decideControl(deps, prepared);
          break;
        case 'execute': {
          const { span, request } = startStepSpan(prepared.plan, prepared.request);
          let o: Outcome | null = null;
          try {
            o = await execute(deps, slot, request, prepared.timeoutMs);
          } finally {
            endStepSpan(span, o);
          }
          if (o === null) return null; // canceled or lease lost: nothing of ours to write
          outcome = o;
          break;
        }
      }
      let next;
      slot.recording = true;
      try {
        next = await deps.transitions.record(
          prepared.plan,
          outcome,
          canContinue() ? prepared.run : null,
        );
      } catch (err) {
        // A resumer resolved the wait while this worker decided it (its timeout, its deadline):
        // the claim is still ours; give the job back due now, to take the resumer's outcome.
        if (err instanceof StaleClaim && prepared.kind === 'control' && prepared.latest)
          await giveBack(deps, slot.job);
        throw err;
      } finally {
        slot.recording = false;
      }
      // Recorded: a wait that ended gets its span (wait-span.ts).
      if (prepared.kind === 'control')
        recordWaitSpan(
          prepared.plan,
          prepared.instruction,
          prepared.run.traceContext,
          prepared.latest,
          outcome,
        );
      if (!next) return null;
      slot.job = next.job;
      if (!next.prepared) {
        // A job claimed but not started: prepared here (a forEach's next item), or given back.
        if (!deps.prepare || !canContinue()) return next.job;
        prepared = await deps.prepare(next.job);
        continue;
      }
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

async function giveBack(deps: AttemptDeps, job: ClaimedJob): Promise<void> {
  await withTenant(deps.pool, job.tenantId, (db) =>
    unclaimJob(db, {
      tenantId: job.tenantId,
      jobId: job.jobId,
      attempt: job.attempt,
      workerId: deps.workerId,
      runAt: deps.clock.now(),
    }),
  );
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
