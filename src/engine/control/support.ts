/** What the control handlers share (kept apart from index.ts, which imports the handlers). */
import { SwitchyardError } from '../../model/errors.ts';
import type { MappingEvaluator } from '../../model/step.ts';
import type { RunFacts, WorkerDeps } from '../prepare.ts';

/** The evaluator of the worker's mappings, or an error saying none was wired. */
export function mappingOf(deps: WorkerDeps): MappingEvaluator {
  if (!deps.mapping)
    throw new SwitchyardError(
      'E_VALIDATION',
      'This worker evaluates no mappings (no MappingEvaluator wired): it cannot run control steps.',
    );
  return deps.mapping;
}

/** A StepRun to record `skipped` for the instruction at `pc`: its step id and pc. */
export function stepOf(run: RunFacts, pc: number): [string, number] {
  return [run.program.instructions[pc]?.stepId ?? `#${pc}`, pc];
}
