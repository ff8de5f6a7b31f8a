/**
 * Retention test data: runs that finished (or not) at chosen times, log lines and audit events
 * with chosen timestamps. Times are set explicitly instead of waiting for them to pass.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { withTenant } from '../../src/db/tenant.ts';
import type { RunId, TenantId, WorkflowId, WorkflowVersionId } from '../../src/model/ids.ts';
import { makeAction, makeWorkflow } from './engine-factories.ts';

export const DAY_MS = 86_400_000;
export const daysAgo = (now: Date, days: number): Date => new Date(now.getTime() - days * DAY_MS);

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'dead';

export type TestWorkflow = {
  tenantId: TenantId;
  workflowId: WorkflowId;
  versionId: WorkflowVersionId;
};

export async function makeTestWorkflow(pool: pg.Pool, tenantId: TenantId): Promise<TestWorkflow> {
  const actionId = await makeAction(pool, tenantId);
  const { workflowId, versionId } = await makeWorkflow(pool, tenantId, [{ id: 's1', actionId }]);
  return { tenantId, workflowId, versionId };
}

/**
 * A run with `steps` step-run rows; a `dead` run gets its dead letter, an unfinished one its
 * job (as the engine would leave them).
 */
export async function makeRun(
  pool: pg.Pool,
  wf: TestWorkflow,
  p: {
    status: RunStatus;
    createdAt: Date;
    finishedAt?: Date | null;
    steps?: number;
    replayOf?: RunId;
  },
): Promise<RunId> {
  const finished = !['queued', 'running'].includes(p.status);
  return withTenant(pool, wf.tenantId, async (db) => {
    const res = await db.query<{ id: RunId }>(
      `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, status, created_at,
                                  started_at, finished_at, replay_of_run_id)
       values ($1, $2, $3, $4, $5, $5, $6, $7) returning id`,
      [
        wf.tenantId,
        wf.workflowId,
        wf.versionId,
        p.status,
        p.createdAt,
        finished ? (p.finishedAt ?? p.createdAt) : null,
        p.replayOf ?? null,
      ],
    );
    const runId = res.rows[0]!.id;
    for (let attempt = 1; attempt <= (p.steps ?? 1); attempt++) {
      await db.query(
        `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, started_at)
         values ($1, $2, 's1', 0, $3, $4, $5)`,
        [wf.tenantId, runId, attempt, finished ? 'failed' : 'running', p.createdAt],
      );
    }
    if (p.status === 'dead') {
      await db.query(
        `insert into dead_letters (tenant_id, run_id, workflow_id, failed_step_id, error)
         values ($1, $2, $3, 's1', '{"code": "E_NETWORK"}')`,
        [wf.tenantId, runId, wf.workflowId],
      );
    }
    if (!finished) {
      await db.query(`insert into jobs (tenant_id, run_id, step_index) values ($1, $2, 0)`, [
        wf.tenantId,
        runId,
      ]);
    }
    return runId;
  });
}

export async function makeLogLine(
  pool: pg.Pool,
  tenantId: TenantId,
  p: { runId: RunId; loggedAt: Date; message?: string },
): Promise<void> {
  await withTenant(pool, tenantId, (db) =>
    db.query(
      `insert into execution_logs (tenant_id, run_id, level, message, logged_at)
       values ($1, $2, 'info', $3, $4)`,
      [tenantId, p.runId, p.message ?? 'hello', p.loggedAt],
    ),
  );
}

/**
 * A tenant with no audit events yet (makeTenant records some at once), so that a test can lay
 * down a chain whose oldest events are old. Written as the owner, as no API creates a bare tenant.
 */
export async function makeBareTenant(ownerPool: pg.Pool): Promise<TenantId> {
  const id = randomUUID() as TenantId;
  await ownerPool.query(`insert into tenants (id, name) values ($1, 'Bare tenant')`, [id]);
  return id;
}

/**
 * Appends an audit event with a chosen time (through the chaining trigger, as the owner: the
 * API always stamps now()).
 */
export async function appendAuditEventAt(
  ownerPool: pg.Pool,
  tenantId: TenantId,
  occurredAt: Date,
  action = 'test.event',
): Promise<number> {
  const res = await ownerPool.query<{ seq: number }>(
    `insert into audit_events (tenant_id, actor_kind, actor_id, action, occurred_at, prev_hash, hash)
     values ($1, 'system', 'test', $2, $3, '\\x', '\\x') returning seq`,
    [tenantId, action, occurredAt],
  );
  return res.rows[0]!.seq;
}

export async function auditSeqs(ownerPool: pg.Pool, tenantId: TenantId): Promise<number[]> {
  const res = await ownerPool.query<{ seq: number }>(
    'select seq from audit_events where tenant_id = $1 order by seq',
    [tenantId],
  );
  return res.rows.map((r) => r.seq);
}
