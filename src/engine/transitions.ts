/**
 * Step transitions, group-committed: the outcomes of a worker's slots of one tenant that finish
 * together are recorded by one statement in one transaction (group-commit.ts; one WAL flush for
 * all of them when transitions are durable). Each item keeps its own guard and its own answer:
 * a stale claim in a batch is refused (StaleClaim) while the others commit, and a statement
 * error makes the batch retry item by item, so one bad item never costs the others their step.
 *
 * A run that goes on gets its next step started in the same statement (StepRun `running`, the
 * action loaded), prepared from what the slot already holds about the run (prepare.ts).
 */
import type { ClaimedJob } from '../db/queries/jobs.ts';
import {
  transitionBytes,
  type StepTransition,
  type TransitionResult,
} from '../db/queries/step-transitions.ts';
import { outputsBeforeLoop } from './for-each-items.ts';
import { createGroupCommit, type Answer } from './group-commit.ts';
import { observeTransition } from './observer.ts';
import type { RunChangeRow } from './run-changes.ts';
import {
  commitTransitions,
  nextClaim,
  StaleClaim,
  transitionOf,
  type AttemptPlan,
  type Continuation,
  type Outcome,
} from './outcome.ts';
import {
  nextStartOf,
  preparedFor,
  withOutput,
  type Prepared,
  type RunFacts,
  type WorkerDeps,
} from './prepare.ts';

/** Waits shorter than this get a wake-up timer on the worker that recorded them. */
const SHORT_WAIT_MS = 60_000;

export type Transitions = {
  /**
   * Records the outcome. `run` given: a run that goes on has its next step started and
   * prepared (else only claimed, to give back). Rejects with StaleClaim when the claim is stale.
   */
  record(
    plan: AttemptPlan,
    outcome: Outcome,
    run: RunFacts | null,
  ): Promise<Continuation<Prepared> | null>;
};

type Item = {
  plan: AttemptPlan;
  transition: StepTransition;
  run: RunFacts | null;
  /** A resumer's output, already in its StepRun (not written, so not returned, here). */
  recordedOutput?: { output: unknown };
};

export function createTransitions(deps: WorkerDeps): Transitions {
  const lanes = createGroupCommit<Item, Continuation<Prepared> | null>({
    maxItems: deps.config.workerConcurrency,
    // The slots answered by a commit come back with their next step's outcome at once (a
    // fast step): they join the others waiting, one transaction for all instead of two.
    rejoin: true,
    commit: async (tenantId, items) => {
      const results = await commitTransitions(deps, {
        tenantId,
        workerId: deps.workerId,
        items: items.map((i) => i.transition),
        runChangesByCaller: deps.runChanges !== undefined,
        claimLoopItems: true,
      });
      // Committed: from here on an item can only fail alone (a retry would apply it twice).
      afterCommit(deps, items, results);
      return items.map((item, n) => {
        try {
          return answerOf(deps, item, results[n]);
        } catch (error) {
          return { ok: false as const, error };
        }
      });
    },
  });
  return {
    record(plan, outcome, run) {
      const start = run ? (pc: number) => nextStartOf(run, pc) : null;
      let transition = transitionOf(plan, outcome, deps.random, start);
      // forEach: a slot that cannot go on leaves the next item to the queue.
      if (!run && transition.loop?.op === 'end')
        transition = { ...transition, loop: { ...transition.loop, queueNext: true } };
      const recordedOutput =
        outcome.kind === 'succeeded' && outcome.recorded ? { output: outcome.output } : undefined;
      return lanes.submit(
        plan.tenantId,
        { plan, transition, run, ...(recordedOutput ? { recordedOutput } : {}) },
        transitionBytes(transition),
      );
    },
  };
}

/** What a committed batch tells beyond its answers: observer, dead runs' log line, wake-ups. */
function afterCommit(deps: WorkerDeps, items: Item[], results: TransitionResult[]): void {
  const now = deps.clock.now();
  // Each recorded item changed its run (or its run's steps): the run's status after it.
  const changed = items.flatMap(({ plan, transition: t }, n): RunChangeRow[] =>
    results[n]?.ok
      ? [
          [
            plan.runId,
            plan.workflowId,
            t.finishRun?.status ?? (t.job.op === 'wait' ? 'waiting' : 'running'),
          ],
        ]
      : [],
  );
  if (changed.length > 0) deps.runChanges?.send(items[0]!.plan.tenantId, changed);
  items.forEach(({ plan, transition: t }, n) => {
    if (!results[n]?.ok) return;
    if (deps.observer) observeTransition(deps.observer, plan, t, now);
    // A test run has no dead letter, and no operator needs to hear of it.
    if (t.finishRun?.status === 'dead' && !plan.isTest) logDeadRun(deps, plan, t);
    // A retry due before the next poll would wait for it: wake the claim loop when it is due.
    if ((t.job.op === 'requeue' || t.job.op === 'unclaim') && t.job.delayMs > 0)
      deps.wakeAfter?.(t.job.delayMs);
    // A short wait: this worker wakes at its deadline (one timer, for the earliest); a longer
    // one is found by the poll (or by whichever worker is then awake).
    if (t.job.op === 'wait') {
      const ms = t.job.until.getTime() - now.getTime();
      if (ms < SHORT_WAIT_MS) deps.wakeAfter?.(Math.max(0, ms));
    }
  });
}

/** One warn line per run that goes dead: what an operator greps for before opening the DLQ. */
function logDeadRun(deps: WorkerDeps, plan: AttemptPlan, t: StepTransition): void {
  // The run's error (also there when no attempt was started: a step whose worker kept dying).
  const error = t.finishRun?.error ? (JSON.parse(t.finishRun.error) as { code?: string }) : null;
  const code = error?.code ?? null;
  deps.logger.warn(
    {
      tenantId: plan.tenantId,
      runId: plan.runId,
      workflowId: plan.workflowId,
      stepId: plan.stepId,
      code,
      attempts: plan.countedAttempts,
    },
    'run dead: retries exhausted, dead-lettered',
  );
}

function answerOf(
  deps: WorkerDeps,
  { plan, transition, run, recordedOutput }: Item,
  r: TransitionResult | undefined,
): Answer<Continuation<Prepared> | null> {
  if (!r?.ok) return { ok: false, error: new StaleClaim() };
  // forEach: the next item goes on in this slot (its job claimed, its first step started, by
  // this item's end), with the outputs of the steps before the loop.
  if (r.loopClaim) {
    const { job, stepRunId, action } = r.loopClaim;
    if (!run || !stepRunId || !plan.item) return { ok: true, value: { job, prepared: null } };
    const outputs = outputsBeforeLoop(run, plan.item, plan.outputs);
    return {
      ok: true,
      value: { job, prepared: preparedFor(deps, job, run, outputs, stepRunId, action) },
    };
  }
  const job: ClaimedJob | null = nextClaim(plan, transition);
  if (!job) return { ok: true, value: null };
  if (!run || !transition.start || !r.stepRunId)
    return { ok: true, value: { job, prepared: null } };
  const outputs =
    transition.stepRun?.op === 'finish' && transition.stepRun.status === 'succeeded'
      ? withOutput(plan.outputs, plan.stepId, r.output)
      : recordedOutput
        ? withOutput(plan.outputs, plan.stepId, recordedOutput.output)
        : plan.outputs;
  return {
    ok: true,
    value: {
      job,
      prepared: preparedFor(deps, job, runAfter(run, transition), outputs, r.stepRunId, r.action),
    },
  };
}

/** The run's facts after a transition that took over a failure (a goto, the failure path). */
function runAfter(run: RunFacts, t: StepTransition): RunFacts {
  if (!t.errorContext && !t.pendingEnd) return run;
  return {
    ...run,
    ...(t.errorContext
      ? { errorContext: JSON.parse(t.errorContext) as RunFacts['errorContext'] }
      : {}),
    ...(t.pendingEnd ? { pendingEnd: JSON.parse(t.pendingEnd) as RunFacts['pendingEnd'] } : {}),
  };
}
