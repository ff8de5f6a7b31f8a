/**
 * callWorkflow: starts a child run of another published workflow of the same tenant
 * (engine/child-runs.ts) with the resolved `input`. `wait: false`: the step's output is
 * `{ runId }` at once. `wait: true`: the generic wait; the child's end resolves this step's
 * StepRun and wakes the job in the child's finishing transaction (migration 0032): its output,
 * or E_CHILD_RUN_FAILED.
 *
 * The first wait is short (FIRST_CHECK_MS): a child fast enough to end between its start's
 * commit and the commit of this step's wait finds the StepRun still `running`; the trigger
 * resolves it then, but the wait's own write would leave the job asleep until the deadline.
 * The early claim takes the child's outcome; a child still running is waited for (looked at
 * every RECHECK_MS) until CHILD_WAIT_MS after its start, then the step fails (E_WAIT_TIMEOUT;
 * the child goes on).
 */
import { selectChildOfStep, type ChildRunRow } from '../../db/queries/child-runs.ts';
import { withTenant } from '../../db/tenant.ts';
import { SwitchyardError } from '../../model/errors.ts';
import type { WorkflowId } from '../../model/ids.ts';
import { FINAL_RUN_STATUSES, startChildRun } from '../child-runs.ts';
import type { ControlDecision, ControlHandler } from './index.ts';
import { mappingOf } from './support.ts';

/** The longest a parent waits for its child (design: no infinite waits; the 30 d default). */
export const CHILD_WAIT_MS = 30 * 24 * 3_600_000;
/** When a waiting parent looks once at its child, in case the child's end came before the wait. */
export const FIRST_CHECK_MS = 1_000;
/**
 * Then it looks again at most this often until the deadline. A child that ends while the
 * parent's job is claimed for such a look resolves the StepRun; the look's own re-wait is
 * guarded on the StepRun still `waiting` (outcome.ts), so the claim goes stale and the next
 * claim (after the lease) takes the child's outcome. The hourly look only bounds what no
 * guard foresaw.
 */
export const RECHECK_MS = 3_600_000;

export const callWorkflowHandler: ControlHandler<'callWorkflow'> = {
  async start({ instruction, context, now }, deps) {
    const input = mappingOf(deps).resolve(instruction.input ?? {}, context);
    if (!context.stepRunId)
      throw new SwitchyardError('E_INTERNAL', 'A callWorkflow step needs its StepRun.');
    const started = await withTenant(deps.pool, context.tenantId, (db) =>
      startChildRun(db, deps, {
        tenantId: context.tenantId,
        workflowId: instruction.workflowId as WorkflowId,
        input,
        parentRunId: context.runId,
        parentStepIndex: instruction.pc,
        stepId: instruction.stepId,
        itemIndex: context.loop?.index ?? null,
        stepRunId: context.stepRunId!,
        wait: instruction.wait,
        traceparent: context.traceparent,
      }),
    );
    const recorded = { workflowId: instruction.workflowId, childRunId: started.childRunId };
    if (!instruction.wait)
      return { kind: 'succeed', output: { runId: started.childRunId }, input: recorded };
    if (started.ended) return childOutcome(started.ended, recorded);
    return { kind: 'wait', until: new Date(now.getTime() + FIRST_CHECK_MS), input: recorded };
  },
  async due({ instruction, context, latest, now }, deps) {
    const child = latest
      ? await withTenant(deps.pool, context.tenantId, (db) =>
          selectChildOfStep(db, { tenantId: context.tenantId, stepRunId: latest.id }),
        )
      : null;
    if (!child)
      return {
        kind: 'fail',
        error: {
          code: 'E_CHILD_RUN_FAILED',
          message: `${instruction.stepId}: its child run is gone.`,
        },
      };
    if (FINAL_RUN_STATUSES.has(child.status)) return childOutcome(child);
    const deadline = new Date(child.created_at.getTime() + CHILD_WAIT_MS);
    if (deadline > now)
      return {
        kind: 'wait',
        until: new Date(Math.min(deadline.getTime(), now.getTime() + RECHECK_MS)),
      };
    return {
      kind: 'fail',
      error: {
        code: 'E_WAIT_TIMEOUT',
        message: `${instruction.stepId}: child run ${child.id} did not end within 30 days; it goes on unwaited.`,
      },
    };
  },
};

function childOutcome(child: ChildRunRow, input?: unknown): ControlDecision {
  if (child.status === 'succeeded')
    return { kind: 'succeed', output: child.output, ...(input ? { input } : {}) };
  const e = (child.error ?? {}) as { code?: string; message?: string };
  return {
    kind: 'fail',
    error: {
      code: 'E_CHILD_RUN_FAILED',
      message:
        `Child run ${child.id} ended ${child.status}: ${e.code ?? ''} ${e.message ?? ''}`.trim(),
    },
    ...(input ? { input } : {}),
  };
}
