/**
 * Control instructions: decided in the worker, not by the StepExecutor.
 *
 * A prepared job whose instruction is not an action (prepare.ts, Prepared `control`) comes
 * here, and its decision is recorded through the same transition path as an action's outcome
 * (outcome.ts → one batched statement): its StepRun, the job's move, the run's end.
 *
 * THE HANDLER INTERFACE (one file per kind, one line in `handlers` below to add a kind):
 *
 * - `start(input, deps)`: the instruction is reached (its StepRun was just started, `running`).
 *   Decides in-process and answers a ControlDecision:
 *     { kind: 'succeed', output, next?, branch?, skip? } — the StepRun succeeds with `output`;
 *        the run goes on at `next` (default the instruction's `next`); `skip` StepRuns are
 *        recorded `skipped` (a switch's branches not taken); `branch` fills the column.
 *     { kind: 'fail', error: { code, message }, route? } — the StepRun fails for good (no
 *        retry: a control step has no action policy); routed by the instruction's onError, or
 *        by `route` (waitForEvent's onTimeout).
 *     { kind: 'wait', until } — the generic wait: the StepRun becomes `waiting` with
 *        `wait_until = until`, the run `waiting`, the job `waiting` at `run_at = until` with
 *        its attempt uncounted (out of the claim's indexes; workers make it `pending` once
 *        due: wakeDueWaits). No worker, lease or connection is held while it waits.
 *   A handler may do its own I/O through `deps` (e.g. start a child run) — it must then be
 *   idempotent: a worker can die between it and the recording of its decision, and the job is
 *   claimed again (the StepRun it started is then marked lost, and `start` runs again).
 * - `due(input, deps)` (optional): the job is claimed again at the pc, its StepRun still
 *   `waiting` and `wait_until` has passed. Default: succeed with `{ "waitedUntil": … }`
 *   (delay, waitUntil); waitForEvent answers its timeout there.
 *
 * Generic, before any handler: a StepRun at the pc already resolved by a resumer (resumeRun,
 * the resume webhook, a child run's end: `succeeded`/`failed` with its `wait_until` set) is
 * the step's outcome as it stands; still `waiting` and not yet due: back to pending until its
 * deadline (a wake-up came early). A falsy `if` skips the step (and a switch's bodies).
 *
 * The resumer's side of the contract: in one transaction guarded by the StepRun being
 * `waiting`, write its status/output/error/finished_at, set the job's `status = 'pending',
 * run_at = now()` and NOTIFY the jobs channel (JOBS_CHANNEL). The engine's own decision on a waiting StepRun is guarded the same
 * way (step-transitions.ts): of the two, exactly one writes it.
 */
import type { LatestStepRun } from '../../db/queries/step-context.ts';
import { SwitchyardError } from '../../model/errors.ts';
import type { ErrorRoute, Instruction, InstructionKind, Next } from '../../model/program.ts';
import type { StepContext } from '../../model/step.ts';
import type { Outcome } from '../outcome.ts';
import type { Prepared, RunFacts, WorkerDeps } from '../prepare.ts';
import type { LoopOp } from '../../db/queries/for-each.ts';
import { delayHandler } from './delay.ts';
import { forEachHandler } from './for-each.ts';
import { switchHandler } from './switch.ts';
import { waitUntilHandler } from './wait-until.ts';
import { waitForEventHandler } from './wait-for-event.ts';
import { callWorkflowHandler } from './call-workflow.ts';
import { mappingOf, stepOf } from './support.ts';

export type ControlInput<K extends InstructionKind = InstructionKind> = {
  instruction: Extract<Instruction, { kind: K }>;
  /** The step's context (the mapping's scope: trigger, steps, loop, error...). */
  context: StepContext;
  run: RunFacts;
  /** The StepRun at this pc before this claim (`due`: the waiting one), else null. */
  latest: LatestStepRun | null;
  now: Date;
};

export type ControlDecision =
  | {
      kind: 'succeed';
      output: unknown;
      /** Recorded as the StepRun's input (what the step resolved), optional. */
      input?: unknown;
      next?: Next;
      branch?: string;
      skip?: [stepId: string, stepIndex: number][];
    }
  | { kind: 'fail'; error: { code: string; message: string }; route?: ErrorRoute; input?: unknown }
  /** `loop`: a forEach starts its loop with this wait (control/for-each.ts). */
  | { kind: 'wait'; until: Date; input?: unknown; loop?: LoopOp };

export type ControlHandler<K extends InstructionKind = InstructionKind> = {
  start(input: ControlInput<K>, deps: WorkerDeps): ControlDecision | Promise<ControlDecision>;
  due?(input: ControlInput<K>, deps: WorkerDeps): ControlDecision | Promise<ControlDecision>;
};

/** The control kinds this engine runs; a kind missing here fails its step (E_VALIDATION). */
export const handlers: { [K in InstructionKind]?: ControlHandler<K> } = {
  switch: switchHandler,
  delay: delayHandler,
  waitUntil: waitUntilHandler,
  waitForEvent: waitForEventHandler,
  callWorkflow: callWorkflowHandler,
  forEach: forEachHandler,
};

type ControlPrepared = Extract<Prepared, { kind: 'control' }>;

/** Decides a control instruction: the Outcome the worker records. Never throws. */
export async function decideControl(deps: WorkerDeps, p: ControlPrepared): Promise<Outcome> {
  const { latest } = p;
  const fromWaiting = latest?.status === 'waiting';
  try {
    if (latest && latest.status !== 'waiting') {
      // Resolved by a resumer while the job waited: that is the step's outcome.
      if (latest.status === 'succeeded')
        return { kind: 'succeeded', input: undefined, output: latest.output, recorded: true };
      return {
        kind: 'failed',
        recorded: true,
        error: {
          code: latest.error_code ?? 'E_INTERNAL',
          message: latest.error_message ?? 'The step failed.',
          retryable: false,
        },
      };
    }
    const now = deps.clock.now();
    const handler = handlers[p.instruction.kind] as ControlHandler | undefined;
    const input: ControlInput = {
      instruction: p.instruction,
      context: p.context,
      run: p.run,
      latest,
      now,
    };
    let decision: ControlDecision;
    if (fromWaiting) {
      const until = new Date(latest.wait_until ?? 0);
      if (until > now) return { kind: 'wait', until, again: true };
      decision = handler?.due
        ? await handler.due(input, deps)
        : { kind: 'succeed', output: { waitedUntil: until.toISOString() } };
    } else {
      if (p.instruction.if !== null && !mappingOf(deps).condition(p.instruction.if, p.context))
        return { kind: 'skipped', skip: skippedBodyOf(p.run, p.instruction) };
      if (!handler)
        return failed(
          'E_VALIDATION',
          `${p.instruction.path}: steps of type "${p.instruction.kind}" are not supported by this engine.`,
        );
      decision = await handler.start(input, deps);
    }
    return outcomeOf(decision, fromWaiting);
  } catch (err) {
    const code = err instanceof SwitchyardError ? err.code : 'E_VALIDATION';
    return { ...failed(code, err instanceof Error ? err.message : String(err)), fromWaiting };
  }
}

function outcomeOf(d: ControlDecision, fromWaiting: boolean): Outcome {
  switch (d.kind) {
    case 'succeed':
      return {
        kind: 'succeeded',
        input: d.input,
        output: d.output,
        fromWaiting,
        ...(d.next !== undefined ? { next: d.next } : {}),
        ...(d.branch !== undefined ? { branch: d.branch } : {}),
        ...(d.skip ? { skip: d.skip } : {}),
      };
    case 'fail':
      return {
        ...failed(d.error.code, d.error.message),
        input: d.input,
        fromWaiting,
        ...(d.route ? { route: d.route } : {}),
      };
    case 'wait':
      return {
        kind: 'wait',
        until: d.until,
        input: d.input,
        again: fromWaiting,
        ...(d.loop ? { loop: d.loop } : {}),
      };
  }
}

function failed(code: string, message: string): Extract<Outcome, { kind: 'failed' }> {
  return { kind: 'failed', error: { code, message, retryable: false } };
}

/** The StepRuns of a skipped block's body (a switch's branches): all `skipped`. */
function skippedBodyOf(run: RunFacts, ins: Instruction): [string, number][] {
  if (ins.kind !== 'switch') return [];
  return ins.bodyPcs.flatMap((b) => b.pcs).map((pc) => stepOf(run, pc));
}
