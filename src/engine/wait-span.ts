/**
 * The span of a wait (delay, waitUntil, waitForEvent, a child run): no process holds a wait
 * open — the run waits as a job row, and the worker that ends it may not be the one that began
 * it — so the span is recorded when the wait ends, from the wait's StepRun start to now, as a
 * child of the run's trace context. Attributes are ids, kinds and how it ended, never data.
 */
import type { LatestStepRun } from '../db/queries/step-context.ts';
import type { Instruction } from '../model/program.ts';
import { SpanKind, SpanStatusCode, startSpan } from '../observability/tracing.ts';
import type { AttemptPlan, Outcome } from './outcome.ts';

/** Records the span of the wait `latest` when `outcome` ends it (not when it waits on). */
export function recordWaitSpan(
  plan: AttemptPlan,
  instruction: Instruction,
  traceContext: string | null,
  latest: LatestStepRun | null,
  outcome: Outcome,
): void {
  if (!latest || outcome.kind === 'wait' || outcome.kind === 'released') return;
  const ended =
    'recorded' in outcome && outcome.recorded
      ? 'resumed'
      : outcome.kind === 'failed'
        ? 'timed-out'
        : 'due';
  const span = startSpan(`wait ${plan.stepId}`, traceContext, {
    kind: SpanKind.INTERNAL,
    startTime: new Date(latest.started_at),
    attributes: {
      'switchyard.tenant_id': plan.tenantId,
      'switchyard.workflow_id': plan.workflowId,
      'switchyard.run_id': plan.runId,
      'switchyard.step_id': plan.stepId,
      'switchyard.step_index': plan.stepIndex,
      'switchyard.wait_kind': instruction.kind,
      'switchyard.wait_until': latest.wait_until ?? '',
      'switchyard.wait_end': ended,
      'switchyard.outcome': outcome.kind,
    },
  });
  if (outcome.kind === 'failed') {
    span.setAttribute('switchyard.error_code', outcome.error.code);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}
