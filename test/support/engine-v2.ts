/**
 * Version-2 workflows for engine tests. The definition is inserted as it is, without the
 * validation at save (catalog: the lang branch's saveWorkflowVersion accepts version 2): the
 * engine's tests run the shapes they need, including some validation would refuse.
 */
import type pg from 'pg';
import { withTenant } from '../../src/db/tenant.ts';
import type { RunId, TenantId, WorkflowId, WorkflowVersionId } from '../../src/model/ids.ts';
import type { StepRequest, StepResult } from '../../src/model/step.ts';
import { runnerMapping } from '../../src/runner/mapping-evaluator.ts';
import { resolveMapping, stepScope } from '../../src/runner/mapping.ts';
import { engineDeps, scriptedExecutor, waitFor } from './engine-factories.ts';

export { runnerMapping };

export async function makeWorkflowV2(
  pool: pg.Pool,
  tenantId: TenantId,
  definition: unknown,
): Promise<{ workflowId: WorkflowId; versionId: WorkflowVersionId }> {
  return withTenant(pool, tenantId, async (db) => {
    const wf = await db.query<{ id: WorkflowId }>(
      `insert into workflows (tenant_id, name) values ($1, 'Test workflow v2') returning id`,
      [tenantId],
    );
    const workflowId = wf.rows[0]!.id;
    const v = await db.query<{ id: WorkflowVersionId }>(
      `insert into workflow_versions (tenant_id, workflow_id, version, definition)
       values ($1, $2, 1, $3) returning id`,
      [tenantId, workflowId, JSON.stringify(definition)],
    );
    await db.query(
      `update workflows set current_version_id = $3 where tenant_id = $1 and id = $2`,
      [tenantId, workflowId, v.rows[0]!.id],
    );
    return { workflowId, versionId: v.rows[0]!.id };
  });
}

/** A workflow whose one published version is `{ version: 2, ...definition }`: its id. */
export async function publishV2(
  pool: pg.Pool,
  tenantId: TenantId,
  definition: Record<string, unknown>,
): Promise<WorkflowId> {
  return (await makeWorkflowV2(pool, tenantId, { version: 2, ...definition })).workflowId;
}

/**
 * An executor that resolves the step's input through the runner's mapping (as the runner does)
 * and answers `fn(stepId, input, request)`: outputs follow the data, as in production.
 */
export function mappingExecutor(
  fn: (stepId: string, input: unknown, req: StepRequest) => StepResult | Promise<StepResult>,
) {
  return scriptedExecutor((req) => {
    const scope = stepScope(req.context);
    if (req.step.if && !runnerMapping.condition(req.step.if, req.context))
      return { status: 'skipped' };
    const input = resolveMapping(req.step.input, scope);
    return fn(req.step.id, input, req);
  });
}

export type StepRunView = {
  step_id: string;
  step_index: number;
  attempt: number;
  status: string;
  output: unknown;
  error_code: string | null;
  branch: string | null;
  wait_until: Date | null;
};

export async function stepRunsOf(db: { ownerPool: pg.Pool }, runId: RunId): Promise<StepRunView[]> {
  const r = await db.ownerPool.query<StepRunView>(
    `select step_id, step_index, attempt, status, output, error_code, branch, wait_until
       from step_runs where run_id = $1 order by step_index, attempt`,
    [runId],
  );
  return r.rows;
}

export type RunView = {
  status: string;
  output: unknown;
  error: Record<string, unknown> | null;
  error_context: unknown;
};

export async function runOf(db: { ownerPool: pg.Pool }, runId: RunId): Promise<RunView> {
  const r = await db.ownerPool.query<RunView>(
    'select status, output, error, error_context from workflow_runs where id = $1',
    [runId],
  );
  return r.rows[0]!;
}

export function finalRun(db: { ownerPool: pg.Pool }, runId: RunId, timeoutMs = 15_000) {
  return waitFor(
    async () => {
      const r = await runOf(db, runId);
      return ['succeeded', 'failed', 'dead', 'canceled'].includes(r.status) && r;
    },
    { what: `run ${runId} to finish`, timeoutMs },
  );
}

export { engineDeps };
