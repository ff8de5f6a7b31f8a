/**
 * Workflows for runner tests through the engine: apps with an auth kind, actions, connections
 * with encrypted secrets, a published version, and waiting for a run to end.
 */
import type pg from 'pg';
import { withTenant } from '../../src/db/tenant.ts';
import type {
  ActionId,
  AppId,
  ConnectionId,
  RunId,
  TenantId,
  WorkflowId,
} from '../../src/model/ids.ts';
import type { SecretBox } from '../../src/security/crypto/secret-box.ts';
import { storeConnectionSecret } from '../../src/security/secrets/connections.ts';
import { waitFor } from './engine-factories.ts';

export async function insertApp(
  pool: pg.Pool,
  tenantId: TenantId,
  a: { key: string; baseUrl: string | null; authKind?: string; authConfig?: unknown },
): Promise<AppId> {
  return withTenant(pool, tenantId, async (c) => {
    const r = await c.query<{ id: AppId }>(
      `insert into apps (tenant_id, key, name, base_url, auth_kind, auth_config)
       values ($1, $2, $2, $3, $4, $5) returning id`,
      [tenantId, a.key, a.baseUrl, a.authKind ?? 'none', JSON.stringify(a.authConfig ?? {})],
    );
    return r.rows[0]!.id;
  });
}

export async function insertAction(
  pool: pg.Pool,
  tenantId: TenantId,
  appId: AppId,
  a: {
    kind: 'http' | 'javascript';
    implementation: unknown;
    retryStrategy?: 'none' | 'fixed' | 'exponential';
    maxAttempts?: number;
    initialDelayMs?: number;
  },
): Promise<ActionId> {
  return withTenant(pool, tenantId, async (c) => {
    const r = await c.query<{ id: ActionId }>(
      `insert into actions (tenant_id, app_id, key, name, kind, implementation,
                            retry_strategy, max_attempts, initial_delay_ms, max_delay_ms)
       values ($1, $2, 'act-' || substr(md5(random()::text), 1, 8), 'act', $3, $4, $5, $6, $7, 60000)
       returning id`,
      [
        tenantId,
        appId,
        a.kind,
        JSON.stringify(a.implementation),
        a.retryStrategy ?? 'fixed',
        a.maxAttempts ?? 3,
        a.initialDelayMs ?? 50,
      ],
    );
    return r.rows[0]!.id;
  });
}

export async function insertConnection(
  pool: pg.Pool,
  box: SecretBox,
  tenantId: TenantId,
  appId: AppId,
  secret: Record<string, string>,
): Promise<ConnectionId> {
  return withTenant(pool, tenantId, async (c) => {
    const r = await c.query<{ id: ConnectionId }>(
      `insert into connections (tenant_id, app_id, name) values ($1, $2, 'conn') returning id`,
      [tenantId, appId],
    );
    const connectionId = r.rows[0]!.id;
    await storeConnectionSecret(c, box, { tenantId, connectionId, secret });
    return connectionId;
  });
}

export type Step = {
  id: string;
  actionId: ActionId;
  connectionId?: ConnectionId;
  input?: unknown;
  onError?: 'fail' | 'continue';
};

export async function publishWorkflow(
  pool: pg.Pool,
  tenantId: TenantId,
  steps: Step[],
): Promise<WorkflowId> {
  return withTenant(pool, tenantId, async (c) => {
    const wf = await c.query<{ id: WorkflowId }>(
      `insert into workflows (tenant_id, name) values ($1, 'wf') returning id`,
      [tenantId],
    );
    const definition = {
      steps: steps.map((s) => ({ input: {}, onError: 'fail', ...s })),
    };
    const v = await c.query<{ id: string }>(
      `insert into workflow_versions (tenant_id, workflow_id, version, definition)
       values ($1, $2, 1, $3) returning id`,
      [tenantId, wf.rows[0]!.id, JSON.stringify(definition)],
    );
    await c.query(`update workflows set current_version_id = $2 where id = $1`, [
      wf.rows[0]!.id,
      v.rows[0]!.id,
    ]);
    return wf.rows[0]!.id;
  });
}

export type EndedRun = { status: string; output: unknown; error: unknown };

/** Waits for the run to reach a final state; on timeout, says where it stopped. */
export async function waitForRunEnd(
  ownerPool: pg.Pool,
  runId: RunId,
  timeoutMs = 25_000,
): Promise<EndedRun> {
  return waitFor(
    async () => {
      const r = (
        await ownerPool.query<EndedRun>(
          'select status, output, error from workflow_runs where id = $1',
          [runId],
        )
      ).rows[0]!;
      return ['succeeded', 'failed', 'dead', 'canceled'].includes(r.status) && r;
    },
    { what: `run ${runId} to end`, timeoutMs },
  ).catch(async (err: unknown) => {
    const steps = await ownerPool.query(
      'select step_id, attempt, status, error_code, error_message from step_runs where run_id = $1 order by started_at',
      [runId],
    );
    const jobs = await ownerPool.query('select * from jobs where run_id = $1', [runId]);
    throw new Error(
      `${(err as Error).message}: ${JSON.stringify({ steps: steps.rows, jobs: jobs.rows })}`,
    );
  });
}
