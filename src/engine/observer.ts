/**
 * What the engine tells an observer (metrics) about the work it records: every attempt's
 * outcome and every run it ends. Called after the transaction that recorded it committed, so an
 * observer never counts what was rolled back (a stale claim, a failed batch); never awaited, so
 * it must be quick and must not throw.
 */
import type { ActionKind } from '../model/step.ts';
import type { AttemptPlan } from './outcome.ts';
import type { StepTransition } from '../db/queries/step-transitions.ts';

export type StepFinished = {
  /** The step's action kind; null when the action is gone or the step is invalid. */
  actionKind: ActionKind | null;
  outcome: 'succeeded' | 'failed' | 'skipped';
  /** From the attempt's start to its outcome (the executor's work and the step's wait for it). */
  durationSeconds: number;
};

export type RunFinished = {
  status: 'succeeded' | 'failed' | 'dead';
  /** From the run's creation (its trigger) to its end: queueing, every step, every retry. */
  durationSeconds: number;
};

export type EngineObserver = {
  stepFinished(e: StepFinished): void;
  runFinished(e: RunFinished): void;
};

/** Tells the observer what a committed transition recorded. */
export function observeTransition(
  observer: EngineObserver,
  plan: AttemptPlan,
  t: StepTransition,
  now: Date,
): void {
  if (plan.isTest) return;
  if (t.stepRun?.op === 'finish' && t.stepRun.status !== 'waiting')
    observer.stepFinished({
      actionKind: plan.actionKind,
      outcome: t.stepRun.status,
      durationSeconds: Math.max(0, (now.getTime() - plan.attemptStartedAt.getTime()) / 1000),
    });
  if (t.finishRun)
    observer.runFinished({
      status: t.finishRun.status,
      durationSeconds: Math.max(0, (now.getTime() - plan.runCreatedAt.getTime()) / 1000),
    });
}
