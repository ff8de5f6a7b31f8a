/**
 * What a test run executes (docs/workflows.md, "Test before publishing"): a draft definition,
 * validated as saving would validate it, with the pins of the test call merged into its steps.
 *
 * Pins travel beside the definition (`pinnedOutputs: {stepId: output}`), never inside it: a
 * definition is what gets saved and published, and a pin is test data (often a real response
 * with customer data) that must not ride into a live version. The merged definition exists
 * only as the test version the run pins (engine/test-run.ts).
 *
 * Version 2: a pin names an action step at any depth (inside a branch, a loop body or the
 * onFailure path); the blocks, waits and calls run as they would (the engine decides them,
 * there is no action to skip).
 */
import type { Queryable } from '../db/pool.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { WorkflowId } from '../model/ids.ts';
import type { StepDefinition } from '../model/step.ts';
import {
  definitionVersionOf,
  type ActionStepV2,
  type DefinitionV2,
  type StepV2,
} from '../model/workflow-v2.ts';
import { blocksAround } from './definition-v2-references.ts';
import { validateDefinitionV2 } from './definition-v2.ts';
import { validateDefinition } from './workflows.ts';

/** One pinned output, as JSON text; a sample or a real response, not a data set. */
export const PIN_MAX_BYTES = 256 * 1024;

function invalid(message: string, field: string): SwitchyardError {
  return new SwitchyardError('E_VALIDATION', message, { field });
}

/**
 * The pins checked: an object of step ids of the definition, each a JSON value within size.
 * `kinds`: the kind of each step that may be named; a step of another kind is refused.
 */
function checkPins(
  pins: unknown,
  steps: Array<{ id: string; kind: string }>,
  field: string,
  pinnable: (kind: string) => boolean,
): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (pins == null) return out;
  if (typeof pins !== 'object' || Array.isArray(pins))
    throw invalid(`${field} must be an object of step id → output.`, field);
  const kinds = new Map(steps.map((s) => [s.id, s.kind]));
  for (const [id, output] of Object.entries(pins)) {
    const kind = kinds.get(id);
    if (kind === undefined)
      throw invalid(`${field}.${id}: the draft has no step "${id}".`, `${field}.${id}`);
    if (!pinnable(kind))
      throw invalid(
        `${field}.${id}: "${id}" is a ${kind} step; only action steps can be pinned (the engine runs blocks, waits and calls itself).`,
        `${field}.${id}`,
      );
    const bytes = Buffer.byteLength(JSON.stringify(output ?? null));
    if (bytes > PIN_MAX_BYTES)
      throw invalid(
        `${field}.${id} is ${bytes} bytes of JSON; a pinned output may hold at most ${PIN_MAX_BYTES}.`,
        `${field}.${id}`,
      );
    out.set(id, output ?? null);
  }
  return out;
}

type PinnedStep = StepDefinition & { pinnedOutput?: unknown };

/** A test version's definition: version 1's steps or version 2's tree, pinned steps carrying their output. */
export type TestDefinition =
  { steps: PinnedStep[] } | (DefinitionV2 & { steps: Array<StepV2 & { pinnedOutput?: unknown }> });

/** The ids of a test definition's pinned steps, at any depth (the audit trail counts them). */
export function pinnedStepIdsOf(definition: TestDefinition): string[] {
  const out: string[] = [];
  const walk = (steps: unknown[]): void => {
    for (const s of steps as Array<Record<string, unknown>>) {
      if ('pinnedOutput' in s) out.push(String(s.id));
      for (const nested of nestedStepLists(s as StepV2)) walk(nested);
    }
  };
  walk(definition.steps);
  if ('onFailure' in definition && definition.onFailure) walk(definition.onFailure.steps);
  return out;
}

function nestedStepLists(s: StepV2): StepV2[][] {
  if (s.type === 'switch')
    return [...s.branches.map((b) => b.steps), ...(s.default ? [s.default.steps] : [])];
  if (s.type === 'forEach') return [s.steps];
  return [];
}

/** The tree with `pinned(step)` applied to every step, nested ones included. */
function mapSteps(steps: StepV2[], f: (s: StepV2) => StepV2): StepV2[] {
  return steps.map((s) => {
    const t = f(s);
    if (t.type === 'switch')
      return {
        ...t,
        branches: t.branches.map((b) => ({ ...b, steps: mapSteps(b.steps, f) })),
        ...(t.default ? { default: { steps: mapSteps(t.default.steps, f) } } : {}),
      };
    if (t.type === 'forEach') return { ...t, steps: mapSteps(t.steps, f) };
    return t;
  });
}

const isAction = (kind: string): boolean => kind === 'action';

/** testWorkflow: the whole draft, pinned steps carrying their output. */
export async function testDefinitionOf(
  db: Queryable,
  p: { definition: unknown; pinnedOutputs: unknown; workflowId?: WorkflowId | null },
): Promise<TestDefinition> {
  if (definitionVersionOf(p.definition) === 2) {
    const { definition, steps } = await validateDefinitionV2(db, p.definition, {
      workflowId: p.workflowId ?? null,
    });
    const all = steps.map(({ step }) => ({ id: step.id, kind: step.type ?? 'action' }));
    const pins = checkPins(p.pinnedOutputs, all, 'pinnedOutputs', isAction);
    const pin = (s: StepV2): StepV2 =>
      pins.has(s.id) ? ({ ...s, pinnedOutput: pins.get(s.id) } as unknown as StepV2) : s;
    return {
      ...definition,
      steps: mapSteps(definition.steps, pin),
      ...(definition.onFailure
        ? { onFailure: { steps: mapSteps(definition.onFailure.steps, pin) } }
        : {}),
    };
  }
  const { steps } = await validateDefinition(db, p.definition);
  const pins = checkPins(
    p.pinnedOutputs,
    steps.map((s) => ({ id: s.id, kind: 'action' })),
    'pinnedOutputs',
    isAction,
  );
  return {
    steps: steps.map((s) => (pins.has(s.id) ? { ...s, pinnedOutput: pins.get(s.id) } : s)),
  };
}

/**
 * testStep: the draft up to `stepId`, which runs for real; every step before it is pinned to
 * its output in `stepOutputs` (null when not given: the step is not called either way), the
 * steps after it are left out.
 *
 * Version 2: `stepId` is an action step at any depth. The test runs it alone after the steps
 * before it on its way (the earlier steps of its block and of the blocks around it, and any
 * other earlier step given an output), each pinned: an
 * action step with its own action, a block, wait or call as a pinned step of the tested step's
 * action (never called), so that `steps.<id>.output` reads the given output whatever its kind.
 * The blocks around the step are not run: `{{ loop.… }}` and `{{ error.… }}` have no value
 * there (write `?? fallback`, or test the whole draft with testWorkflow and pins).
 */
export async function stepTestDefinitionOf(
  db: Queryable,
  p: { definition: unknown; stepId: string; stepOutputs: unknown; workflowId?: WorkflowId | null },
): Promise<TestDefinition> {
  if (definitionVersionOf(p.definition) === 2) return stepTestDefinitionV2(db, p);
  const { steps } = await validateDefinition(db, p.definition);
  const index = steps.findIndex((s) => s.id === p.stepId);
  if (index < 0) throw invalid(`stepId: the draft has no step "${p.stepId}".`, 'stepId');
  const earlier = steps.slice(0, index);
  const outputs = checkPins(
    p.stepOutputs,
    earlier.map((s) => ({ id: s.id, kind: 'action' })),
    'stepOutputs',
    isAction,
  );
  return {
    steps: [
      ...earlier.map((s) => ({ ...s, pinnedOutput: outputs.get(s.id) ?? null })),
      steps[index]!,
    ],
  };
}

async function stepTestDefinitionV2(
  db: Queryable,
  p: { definition: unknown; stepId: string; stepOutputs: unknown; workflowId?: WorkflowId | null },
): Promise<TestDefinition> {
  const { steps, shape } = await validateDefinitionV2(db, p.definition, {
    workflowId: p.workflowId ?? null,
  });
  const index = steps.findIndex(({ step }) => step.id === p.stepId);
  if (index < 0) throw invalid(`stepId: the draft has no step "${p.stepId}".`, 'stepId');
  const target = steps[index]!.step;
  const around = blocksAround(shape.byId.get(p.stepId)!);
  if (target.type !== 'action')
    throw invalid(
      `stepId: "${p.stepId}" is a ${target.type} step; testStep runs one action step (test blocks, waits and calls with testWorkflow).`,
      'stepId',
    );
  const before = steps.slice(0, index).map(({ step }) => step);
  const outputs = checkPins(
    p.stepOutputs,
    before.map((s) => ({ id: s.id, kind: s.type ?? 'action' })),
    'stepOutputs',
    () => true,
  );
  // The steps on the way to it (their block encloses it), and any other one given an output
  // (a step of another branch, read as `steps.<id>.output ?? …`).
  const earlier = before.filter(
    (s) => outputs.has(s.id) || around.includes(shape.byId.get(s.id)!.block),
  );
  const action = target;
  const pinned = earlier.map((s): ActionStepV2 & { pinnedOutput: unknown } =>
    s.type === 'action'
      ? { ...s, onError: 'fail', pinnedOutput: outputs.get(s.id) ?? null }
      : {
          id: s.id,
          type: 'action',
          actionId: action.actionId,
          connectionId: action.connectionId ?? null,
          input: {},
          if: null,
          onError: 'fail',
          pinnedOutput: outputs.get(s.id) ?? null,
        },
  );
  return { version: 2, steps: [...pinned, { ...action, onError: 'fail' }] };
}
