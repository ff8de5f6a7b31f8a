/**
 * Starting a callWorkflow step's child run (engine/control/call-workflow.ts): a run of another
 * published workflow of the same tenant (row security: another tenant's id is "not found"),
 * through startRunInTransaction like any start, linked to the parent's step in the same
 * transaction.
 *
 * A retried call step (its worker died after the commit, before the step's transition) must
 * not start a second child: the start takes an idempotency key made of the parent run, the
 * step and the loop item, whose payload is that same triple (the input mapping may differ on a
 * retry, e.g. `run.attempt`), so the retry gets the first child back (`duplicate`).
 */
import {
  linkChildRun,
  selectCallDepth,
  selectChildRun,
  type ChildRunRow,
} from '../db/queries/child-runs.ts';
import type { Queryable } from '../db/pool.ts';
import { SwitchyardError } from '../model/errors.ts';
import {
  isUuid,
  type RunId,
  type StepRunId,
  type TenantId,
  type WorkflowId,
} from '../model/ids.ts';
import type { EngineDeps } from './deps.ts';
import { startRunInTransaction, whyNotStartable } from './start-run.ts';
import { selectWorkflowState } from '../db/queries/workflows.ts';

export type ChildStart = {
  tenantId: TenantId;
  workflowId: WorkflowId;
  input: unknown;
  parentRunId: RunId;
  parentStepIndex: number;
  stepId: string;
  itemIndex: number | null;
  /** The parent's attempt StepRun (its `child_run_id`). */
  stepRunId: StepRunId;
  /** The parent waits for the child's end (callWorkflow's `wait`). */
  wait: boolean;
  /** The parent step's span: the child's spans continue the parent's trace. */
  traceparent: string | null;
};

export const FINAL_RUN_STATUSES = new Set(['succeeded', 'failed', 'dead', 'canceled']);

/**
 * The longest chain of runs started by calls: a run this deep starts no child. Save refuses
 * the call cycles it can see (catalog/definition-v2.ts); this bounds the ones it cannot (an
 * edit of a called workflow that closes a cycle through a version saved before).
 */
export const MAX_CALL_DEPTH = 10;

export function childIdempotencyKey(p: Pick<ChildStart, 'parentRunId' | 'stepId' | 'itemIndex'>) {
  return `call:${p.parentRunId}:${p.stepId}:${p.itemIndex ?? '-'}`;
}

export async function startChildRun(
  db: Queryable,
  deps: Pick<EngineDeps, 'clock' | 'config'>,
  p: ChildStart,
): Promise<{ childRunId: RunId; duplicate: boolean; ended: ChildRunRow | null }> {
  // Checked first: the start's idempotency key names the workflow, and another tenant's (or a
  // missing) one would fail its foreign key, aborting the transaction, instead of saying why.
  const state = isUuid(p.workflowId)
    ? await selectWorkflowState(db, { tenantId: p.tenantId, workflowId: p.workflowId })
    : undefined;
  if (!state || !state.published || state.archived)
    throw isUuid(p.workflowId)
      ? await whyNotStartable(db, p)
      : new SwitchyardError('E_NOT_FOUND', `Workflow ${p.workflowId} does not exist.`);
  const depth = await selectCallDepth(db, {
    tenantId: p.tenantId,
    runId: p.parentRunId,
    cap: MAX_CALL_DEPTH,
  });
  if (depth + 1 >= MAX_CALL_DEPTH)
    throw new SwitchyardError(
      'E_CALL_DEPTH_EXCEEDED',
      `${p.stepId}: this run is the ${depth + 1}th of a chain of runs started by callWorkflow (at most ${MAX_CALL_DEPTH}); the workflows probably call each other in a cycle — break it.`,
      { depth: depth + 1, max: MAX_CALL_DEPTH },
    );
  const started = await startRunInTransaction(db, deps, {
    tenantId: p.tenantId,
    workflowId: p.workflowId,
    input: p.input,
    idempotencyKey: childIdempotencyKey(p),
    idempotencyPayload: { parentRunId: p.parentRunId, stepId: p.stepId, itemIndex: p.itemIndex },
    traceparent: p.traceparent,
  });
  const linked = await linkChildRun(db, {
    tenantId: p.tenantId,
    childRunId: started.runId,
    parentRunId: p.parentRunId,
    parentStepIndex: p.parentStepIndex,
    stepRunId: p.stepRunId,
    wait: p.wait,
  });
  // The parent's attempt is no longer running (claim lost): roll the child back with it.
  if (!linked)
    throw new SwitchyardError('E_CONFLICT', 'The calling step is no longer running; not started.');
  // A retry's child may have ended already, its trigger fired for the earlier attempt: the
  // caller takes its outcome now instead of waiting for an end that has come and gone.
  const child = started.duplicate
    ? await selectChildRun(db, { tenantId: p.tenantId, childRunId: started.runId })
    : null;
  const ended = child && FINAL_RUN_STATUSES.has(child.status) ? child : null;
  return { childRunId: started.runId, duplicate: started.duplicate, ended };
}
