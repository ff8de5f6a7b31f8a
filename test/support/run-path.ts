/**
 * Writes the rows of a version-2 run's path (migration 0030: run status `waiting`, parent run,
 * a StepRun's item index, branch, deadline and child run) straight into the database, as the
 * engine records them: the GraphQL and web tests of the path read them without running the
 * engine's blocks (written on other branches of issue 15).
 */
import type pg from 'pg';
import type { TenantId, WorkflowId, WorkflowVersionId } from '../../src/model/ids.ts';

export type PathStep = {
  stepId: string;
  stepIndex: number;
  status: 'running' | 'waiting' | 'succeeded' | 'failed' | 'skipped' | 'canceled';
  attempt?: number;
  itemIndex?: number | null;
  branch?: string | null;
  waitUntil?: Date | null;
  childRunId?: string | null;
  output?: unknown;
  errorCode?: string | null;
  errorMessage?: string | null;
};

export async function insertPathRun(
  owner: pg.Pool,
  p: {
    tenantId: TenantId;
    workflowId: WorkflowId;
    versionId: WorkflowVersionId;
    status: 'queued' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'canceled' | 'dead';
    parentRunId?: string | null;
    parentStepIndex?: number | null;
    createdAt?: Date;
  },
): Promise<string> {
  const res = await owner.query<{ id: string }>(
    `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, input, status,
                                parent_run_id, parent_step_index, created_at, started_at)
     values ($1, $2, $3, '{}', $4, $5, $6, $7, $7) returning id`,
    [
      p.tenantId,
      p.workflowId,
      p.versionId,
      p.status,
      p.parentRunId ?? null,
      p.parentStepIndex ?? null,
      p.createdAt ?? new Date(),
    ],
  );
  return res.rows[0]!.id;
}

/** All the StepRuns in one statement (a loop of many items included). */
export async function insertPathSteps(
  owner: pg.Pool,
  tenantId: TenantId,
  runId: string,
  steps: PathStep[],
): Promise<void> {
  const now = new Date();
  await owner.query(
    `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, output,
                            error_code, error_message, item_index, branch, wait_until,
                            child_run_id, started_at, finished_at)
     select $1, $2, s.step_id, s.step_index, s.attempt, s.status, s.output, s.error_code,
            s.error_message, s.item_index, s.branch, s.wait_until, s.child_run_id, $3,
            case when s.status in ('running', 'waiting') then null else $3::timestamptz end
       from jsonb_to_recordset($4::jsonb) as s(step_id text, step_index int, attempt int,
            status text, output jsonb, error_code text, error_message text, item_index int,
            branch text, wait_until timestamptz, child_run_id uuid)`,
    [
      tenantId,
      runId,
      now,
      JSON.stringify(
        steps.map((s) => ({
          step_id: s.stepId,
          step_index: s.stepIndex,
          attempt: s.attempt ?? 1,
          status: s.status,
          output: s.output ?? null,
          error_code: s.errorCode ?? null,
          error_message: s.errorMessage ?? null,
          item_index: s.itemIndex ?? null,
          branch: s.branch ?? null,
          wait_until: s.waitUntil?.toISOString() ?? null,
          child_run_id: s.childRunId ?? null,
        })),
      ),
    ],
  );
}
