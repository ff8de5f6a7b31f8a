/**
 * The span of one step attempt: a child of the run's trace context (the request or cron that
 * started the run), and the parent of whatever the step calls (the executor is handed the
 * span's `traceparent`). Attributes are ids, kinds, outcome and error code, never the step's
 * input, output or error message.
 */
import type { StepRequest } from '../model/step.ts';
import {
  SpanKind,
  SpanStatusCode,
  startSpan,
  traceparentOf,
  type Span,
} from '../observability/tracing.ts';
import type { AttemptPlan, Outcome } from './outcome.ts';

export function startStepSpan(
  plan: AttemptPlan,
  request: StepRequest,
): { span: Span; request: StepRequest } {
  const span = startSpan(`step ${plan.stepId}`, request.context.traceparent, {
    kind: SpanKind.INTERNAL,
    attributes: {
      'switchyard.tenant_id': plan.tenantId,
      'switchyard.workflow_id': plan.workflowId,
      'switchyard.run_id': plan.runId,
      'switchyard.step_id': plan.stepId,
      'switchyard.step_index': plan.stepIndex,
      'switchyard.attempt': plan.attempt,
      'switchyard.action_kind': plan.actionKind ?? 'none',
    },
  });
  const traceparent = traceparentOf(span) ?? request.context.traceparent;
  return { span, request: { ...request, context: { ...request.context, traceparent } } };
}

/** Ends the span with the attempt's outcome (null: canceled or its lease lost). */
export function endStepSpan(span: Span, outcome: Outcome | null): void {
  span.setAttribute('switchyard.outcome', outcome?.kind ?? 'aborted');
  if (outcome?.kind === 'failed') {
    span.setAttribute('switchyard.error_code', outcome.error.code);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}
