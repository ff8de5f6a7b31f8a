/**
 * The runner's mapping as the engine's MappingEvaluator (model/step.ts): the engine decides its
 * control steps in-process (a switch's `when`, waitUntil's `until`) with the very evaluator
 * action inputs use, so a reference means the same in both.
 */
import type { MappingEvaluator } from '../model/step.ts';
import { evaluateCondition, resolveMapping, stepScope } from './mapping.ts';

export const runnerMapping: MappingEvaluator = {
  resolve: (template, context) => resolveMapping(template, stepScope(context), context.stepId),
  condition: (expression, context) => evaluateCondition(expression, stepScope(context)),
};
