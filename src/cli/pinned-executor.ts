/**
 * Pinned outputs of test runs (docs/workflows.md, "Test before publishing"): a step whose
 * definition carries `pinnedOutput` — only a test version can, testWorkflow puts the pins
 * there — is not executed. Its condition and input mapping are evaluated as the runner would
 * (so a test shows what the step would have sent, and a false `if` still skips it), then the
 * pinned output is its result, and one execution-log line says the action was not called.
 *
 * A wrapper rather than a branch in the runner or the engine: every other step goes to the
 * real executor untouched, and a published version never reaches this path (saving a version
 * refuses the field, catalog/workflows.ts).
 */
import type { ExecutionLogLine, StepExecutor, StepRequest, StepResult } from '../model/step.ts';
import { evaluateCondition, resolveMapping, stepScope } from '../runner/mapping.ts';
import type { LogSink } from '../runner/types.ts';

export function withPinnedOutputs(inner: StepExecutor, logSink?: LogSink): StepExecutor {
  return {
    async execute(request, signal) {
      const { step, context } = request;
      if (!('pinnedOutput' in step)) return inner.execute(request, signal);
      const { result, problem } = pinnedResult(request);
      const lines: ExecutionLogLine[] = [];
      if (problem)
        lines.push({
          level: 'warn',
          message: `step ${step.id}: its input could not be resolved (${problem}); the pinned output is used anyway`,
        });
      lines.push({
        level: 'info',
        message:
          result.status === 'skipped'
            ? `step ${step.id} skipped: its condition is false`
            : `step ${step.id} pinned: its pinned output was used, the action was not called`,
      });
      await logSink?.write(context, lines);
      return result;
    },
  };
}

/**
 * The pinned step's result. Its condition and mapping may reference what a test does not have
 * (testStep pins the earlier steps, perhaps with no trigger input): the pin wins then, with
 * the problem logged, since the point of a pin is not to depend on upstream.
 */
function pinnedResult({ step, context }: StepRequest): {
  result: StepResult;
  problem: string | null;
} {
  const output = step.pinnedOutput ?? null;
  try {
    const scope = stepScope(context);
    if (step.if != null && step.if.trim() !== '' && !evaluateCondition(step.if, scope))
      return { result: { status: 'skipped' }, problem: null };
    const input = resolveMapping(step.input ?? {}, scope, 'input');
    return { result: { status: 'succeeded', input, output }, problem: null };
  } catch (err) {
    return {
      result: { status: 'succeeded', input: null, output },
      problem: err instanceof Error ? err.message : String(err),
    };
  }
}
