/** forEach test helpers: a published version-2 workflow, and the rows a loop leaves. */
import type pg from 'pg';
import { withTenant } from '../../src/db/tenant.ts';
import type { RunId, TenantId, WorkflowId } from '../../src/model/ids.ts';

/** A workflow whose one published version is the version-2 `definition`. */
export async function makeWorkflowV2(
  pool: pg.Pool,
  tenantId: TenantId,
  definition: { steps: unknown[]; onFailure?: { steps: unknown[] } },
): Promise<WorkflowId> {
  return withTenant(pool, tenantId, async (db) => {
    const wf = await db.query<{ id: WorkflowId }>(
      `insert into workflows (tenant_id, name) values ($1, 'forEach workflow') returning id`,
      [tenantId],
    );
    const workflowId = wf.rows[0]!.id;
    const v = await db.query<{ id: string }>(
      `insert into workflow_versions (tenant_id, workflow_id, version, definition)
       values ($1, $2, 1, $3) returning id`,
      [tenantId, workflowId, JSON.stringify({ version: 2, ...definition })],
    );
    await db.query(
      `update workflows set current_version_id = $3 where tenant_id = $1 and id = $2`,
      [tenantId, workflowId, v.rows[0]!.id],
    );
    return workflowId;
  });
}

export type StepRow = {
  step_id: string;
  step_index: number;
  item_index: number | null;
  attempt: number;
  status: string;
  output: unknown;
  error_code: string | null;
};

export async function stepRowsOf(owner: pg.Pool, runId: RunId): Promise<StepRow[]> {
  const res = await owner.query<StepRow>(
    `select step_id, step_index, item_index, attempt, status, output, error_code from step_runs
      where run_id = $1 order by step_index, item_index nulls first, attempt`,
    [runId],
  );
  return res.rows;
}

export type RunRow = { status: string; output: unknown; error: { code: string } | null };

export async function runRowOf(owner: pg.Pool, runId: RunId): Promise<RunRow> {
  const res = await owner.query<RunRow>(
    'select status, output, error from workflow_runs where id = $1',
    [runId],
  );
  return res.rows[0]!;
}

export async function jobCountOf(owner: pg.Pool, runId: RunId): Promise<number> {
  const res = await owner.query<{ n: number }>(
    'select count(*)::int as n from jobs where run_id = $1',
    [runId],
  );
  return res.rows[0]!.n;
}
