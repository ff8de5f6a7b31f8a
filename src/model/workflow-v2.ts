/**
 * Workflow definition version 2 (docs/workflows.md, "Definition version 2"): the blocks a
 * builder nests — branch (`switch`), `forEach`, waits, `callWorkflow` — and error handling
 * (`onError` with `goto`, the workflow's `onFailure` path). A definition without `"version": 2`
 * is version 1 (a flat list of action steps) and keeps its behaviour unchanged.
 *
 * The engine does not walk this tree: it runs the flat program compiled from it
 * (model/program.ts), whose instruction index is a job's `step_index`.
 */
import type { ActionId, ConnectionId, WorkflowId } from './ids.ts';

/** What happens when a step fails for good (after its retries). */
export type OnErrorV2 =
  | 'fail'
  | 'continue'
  /** Go on at a later step of the same block or of an enclosing block (never backwards). */
  | { goto: string };

type StepBase = {
  /** Unique in the whole definition, branches and loop bodies included: `^[a-z][a-z0-9_]*$`. */
  id: string;
  /** Skip this step (status `skipped`) when the mapping expression resolves falsy. */
  if?: string | null;
};

/** An action step, exactly as in version 1 (`type` may be omitted). */
export type ActionStepV2 = StepBase & {
  type?: 'action';
  actionId: ActionId;
  connectionId?: ConnectionId | null;
  input?: unknown;
  onError?: OnErrorV2;
};

/**
 * Routes to the first branch that matches, else to `default`; the branches rejoin after the
 * block. A branch matches when its `when` resolves truthy, or — with the switch's `value` (a
 * mapping expression, resolved once) — when that value equals the branch's `equals` (JSON,
 * compared by value and type). Its StepRun's output is `{ "branch": "<name>" }` (`"default"`);
 * the steps of the branches not taken are recorded as `skipped`.
 */
export type SwitchStepV2 = StepBase & {
  type: 'switch';
  value?: string;
  branches: SwitchBranchV2[];
  default?: { steps: StepV2[] };
};

/** Exactly one of `when` and `equals` (which needs the switch's `value`). */
export type SwitchBranchV2 = { name: string; when?: string; equals?: unknown; steps: StepV2[] };

/**
 * Runs `steps` once per item of `items` (a mapping expression resolving to a list), at most
 * `concurrency` items at once (default 10, at most 100). Inside the block `{{ loop.item }}`
 * and `{{ loop.index }}` name the current item. Output: a list in item order, each entry the
 * block's last step's output — or `{ "error": { code, message } }` for an item that failed
 * under `onItemError: "continue"`. `"fail"` (default): an item's failure fails the loop step.
 */
export type ForEachStepV2 = StepBase & {
  type: 'forEach';
  items: string;
  concurrency?: number;
  onItemError?: 'fail' | 'continue';
  steps: StepV2[];
  onError?: OnErrorV2;
};

/** Waits for a duration: `"90s"`, `"15m"`, `"2h"`, `"30d"`, `"1h30m"` (ms, s, m, h, d). */
export type DelayStepV2 = StepBase & { type: 'delay'; duration: string };

/** Waits until a date (a mapping expression resolving to an ISO 8601 string); past: goes on. */
export type WaitUntilStepV2 = StepBase & { type: 'waitUntil'; until: string };

/**
 * Waits until the run is resumed — `resumeRun(runId, token, payload)` or a signed POST to the
 * resume webhook — whose payload becomes this step's output; or until `timeout` (a duration
 * as for `delay`, default 30d), when `onTimeout` applies (default `fail`, E_WAIT_TIMEOUT).
 * The token is known before the wait starts: `{{ run.waits.<id>.token }}` and
 * `{{ run.waits.<id>.url }}` (so an earlier step can mail an approval link).
 */
export type WaitForEventStepV2 = StepBase & {
  type: 'waitForEvent';
  timeout?: string;
  onTimeout?: OnErrorV2;
};

/**
 * Runs another published workflow of the same tenant as a child run with `input` (mapping).
 * `wait: true` (default): this step's output is the child's output, a failed child fails this
 * step; `wait: false`: the output is `{ "runId": … }` at once. Canceling the parent cancels a
 * running child.
 */
export type CallWorkflowStepV2 = StepBase & {
  type: 'callWorkflow';
  workflowId: WorkflowId;
  input?: unknown;
  wait?: boolean;
  onError?: OnErrorV2;
};

export type StepV2 =
  | ActionStepV2
  | SwitchStepV2
  | ForEachStepV2
  | DelayStepV2
  | WaitUntilStepV2
  | WaitForEventStepV2
  | CallWorkflowStepV2;

export type StepKindV2 = NonNullable<StepV2['type']>;

export const stepKindsV2: readonly StepKindV2[] = [
  'action',
  'switch',
  'forEach',
  'delay',
  'waitUntil',
  'waitForEvent',
  'callWorkflow',
];

export type DefinitionV2 = {
  version: 2;
  steps: StepV2[];
  /**
   * Runs when the run fails or goes dead, with `{{ error.code }}`, `{{ error.message }}`,
   * `{{ error.stepId }}`; the run still ends failed (or dead) with the original error.
   */
  onFailure?: { steps: StepV2[] };
};

/** A stored definition's version: 2 when it says so, else 1. */
export function definitionVersionOf(definition: unknown): 1 | 2 {
  return typeof definition === 'object' &&
    definition !== null &&
    (definition as { version?: unknown }).version === 2
    ? 2
    : 1;
}
