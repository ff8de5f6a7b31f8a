/**
 * What a test run executes (docs/workflows.md, "Test before publishing"): a draft definition,
 * validated as saving would validate it, with the pins of the test call merged into its steps.
 *
 * Pins travel beside the definition (`pinnedOutputs: {stepId: output}`), never inside it: a
 * definition is what gets saved and published, and a pin is test data (often a real response
 * with customer data) that must not ride into a live version. The merged definition exists
 * only as the test version the run pins (engine/test-run.ts).
 */
import type { Queryable } from '../db/pool.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { StepDefinition } from '../model/step.ts';
import { validateDefinition } from './workflows.ts';

/** One pinned output, as JSON text; a sample or a real response, not a data set. */
export const PIN_MAX_BYTES = 256 * 1024;

function invalid(message: string, field: string): SwitchyardError {
  return new SwitchyardError('E_VALIDATION', message, { field });
}

/** The pins checked: an object of step ids of the definition, each a JSON value within size. */
function checkPins(pins: unknown, steps: StepDefinition[], field: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (pins == null) return out;
  if (typeof pins !== 'object' || Array.isArray(pins))
    throw invalid(`${field} must be an object of step id → output.`, field);
  const ids = new Set(steps.map((s) => s.id));
  for (const [id, output] of Object.entries(pins)) {
    if (!ids.has(id))
      throw invalid(`${field}.${id}: the draft has no step "${id}".`, `${field}.${id}`);
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

export type TestDefinition = { steps: Array<StepDefinition & { pinnedOutput?: unknown }> };

/** testWorkflow: the whole draft, pinned steps carrying their output. */
export async function testDefinitionOf(
  db: Queryable,
  p: { definition: unknown; pinnedOutputs: unknown },
): Promise<TestDefinition> {
  const { steps } = await validateDefinition(db, p.definition);
  const pins = checkPins(p.pinnedOutputs, steps, 'pinnedOutputs');
  return {
    steps: steps.map((s) => (pins.has(s.id) ? { ...s, pinnedOutput: pins.get(s.id) } : s)),
  };
}

/**
 * testStep: the draft up to `stepId`, which runs for real; every step before it is pinned to
 * its output in `stepOutputs` (null when not given: the step is not called either way), the
 * steps after it are left out.
 */
export async function stepTestDefinitionOf(
  db: Queryable,
  p: { definition: unknown; stepId: string; stepOutputs: unknown },
): Promise<TestDefinition> {
  const { steps } = await validateDefinition(db, p.definition);
  const index = steps.findIndex((s) => s.id === p.stepId);
  if (index < 0) throw invalid(`stepId: the draft has no step "${p.stepId}".`, 'stepId');
  const earlier = steps.slice(0, index);
  const outputs = checkPins(p.stepOutputs, earlier, 'stepOutputs');
  return {
    steps: [
      ...earlier.map((s) => ({ ...s, pinnedOutput: outputs.get(s.id) ?? null })),
      steps[index]!,
    ],
  };
}
