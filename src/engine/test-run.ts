/**
 * Test runs (testWorkflow, testStep): a draft run through the real queue and worker. The draft
 * becomes a test version (migration 0026) that the run pins like any run, and the run is
 * marked `is_test` in the transaction that creates it, before a worker can claim its job.
 * Its attempts then skip metrics, retries and the dead letter (prepare.ts, outcome.ts,
 * observer.ts), the default runs list leaves it out, and retention purges it after
 * RETENTION_TEST_RUN_HOURS. Backpressure applies: a test still loads the queue.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/pool.ts';
import { insertTestVersion } from '../db/queries/workflow-versions.ts';
import { insertRunWithJob, markTestRun } from '../db/queries/workflow-runs.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { RunId, TenantId, TriggerId, WorkflowId } from '../model/ids.ts';
import type { Backpressure } from './backpressure.ts';
import type { EngineDeps } from './deps.ts';

export type StartTestRunInput = {
  tenantId: TenantId;
  workflowId: WorkflowId;
  /** Validated by the caller (catalog/test-definition.ts); steps may carry `pinnedOutput`. */
  definition: { steps: unknown[] };
  input: unknown;
  /** The trigger whose sample is the input, if any (shown on the run). */
  triggerId: TriggerId | null;
  createdBy: string | null;
};

/** Starts a test run in the caller's tenant transaction. */
export async function startTestRunIn(
  db: Queryable,
  deps: Pick<EngineDeps, 'clock'> & { backpressure?: Backpressure },
  p: StartTestRunInput,
): Promise<{ runId: RunId }> {
  if (deps.backpressure) await deps.backpressure.assertAccepting(p.tenantId);
  const version = await insertTestVersion(db, {
    tenantId: p.tenantId,
    workflowId: p.workflowId,
    definition: p.definition,
    createdBy: p.createdBy,
  });
  if (!version)
    throw new SwitchyardError('E_NOT_FOUND', `Workflow ${p.workflowId} does not exist.`, {
      workflowId: p.workflowId,
    });
  const runId = randomUUID() as RunId;
  const created = await insertRunWithJob(db, {
    tenantId: p.tenantId,
    runId,
    workflowId: p.workflowId,
    versionId: version.id,
    triggerId: p.triggerId,
    idempotencyKey: null,
    inputHash: null,
    input: p.input,
    traceContext: null,
    replayOfRunId: null,
    firstStepIndex: 0,
    now: deps.clock.now(),
  });
  if (!created) throw new SwitchyardError('E_CONFLICT', 'The workflow changed meanwhile; retry.');
  await markTestRun(db, { tenantId: p.tenantId, runId });
  return { runId };
}
