/**
 * End to end: a run of a three-step workflow (HTTP → JavaScript → signed webhook) through the
 * engine's worker and the composition root's executor (the real runner on the DB-backed rate
 * limiter, breaker store, execution log and encrypted connection), against local servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepExecutor } from '../../src/cli/executor.ts';
import { selectExecutionLogs } from '../../src/db/queries/execution-logs.ts';
import { withTenant } from '../../src/db/tenant.ts';
import { storeConnectionSecret } from '../../src/security/secrets/connections.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker } from '../../src/engine/worker.ts';
import type { ActionId, AppId, ConnectionId, TenantId, WorkflowId } from '../../src/model/ids.ts';
import { signStandardWebhook } from '../../src/runner/actions/standard-webhooks.ts';
import { webhookApp } from '../../src/model/builtin-apps.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps, waitFor } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { testSecretBox } from '../support/security-fixtures.ts';
import { gateConfig } from '../support/runner-harness.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

let db: TestDatabase;
let api: LocalServer;
let receiver: LocalServer;
beforeAll(async () => {
  db = await createTestDatabase();
  api = await startServer((req, res) =>
    req.url.startsWith('/items?q=widgets')
      ? sendJson(res, 200, { items: [{ name: 'bolt' }, { name: 'nut' }] })
      : sendJson(res, 404, {}),
  );
  receiver = await startServer((_req, res) => sendJson(res, 202, { accepted: true }));
});
afterAll(async () => {
  await api.close();
  await receiver.close();
  await db.drop();
});

async function insertApp(tenantId: TenantId, key: string, baseUrl: string | null): Promise<AppId> {
  return withTenant(db.pool, tenantId, async (c) => {
    const r = await c.query<{ id: AppId }>(
      `insert into apps (tenant_id, key, name, base_url) values ($1, $2, $2, $3) returning id`,
      [tenantId, key, baseUrl],
    );
    return r.rows[0]!.id;
  });
}

async function insertAction(
  tenantId: TenantId,
  appId: AppId,
  a: { kind: string; implementation: unknown; inputSchema?: unknown; outputSchema?: unknown },
): Promise<ActionId> {
  return withTenant(db.pool, tenantId, async (c) => {
    const r = await c.query<{ id: ActionId }>(
      `insert into actions (tenant_id, app_id, key, name, kind, input_schema, output_schema, implementation,
                            retry_strategy, max_attempts, rate_limit_requests, rate_limit_per_seconds)
       values ($1, $2, 'act', 'act', $3, $4, $5, $6, 'exponential', 3, 100, 1) returning id`,
      [
        tenantId,
        appId,
        a.kind,
        JSON.stringify(a.inputSchema ?? { type: 'object' }),
        JSON.stringify(a.outputSchema ?? {}),
        JSON.stringify(a.implementation),
      ],
    );
    return r.rows[0]!.id;
  });
}

describe('a three-step workflow through the engine and the runner', () => {
  it('HTTP → JavaScript → signed webhook', async () => {
    const { tenantId } = await makeTenant(db.pool);
    const crm = await insertApp(tenantId, 'crm', api.url);
    const fetch = await insertAction(tenantId, crm, {
      kind: 'http',
      implementation: { method: 'GET', path: '/items', query: { q: '{{ input.q }}' } },
      outputSchema: { type: 'object', required: ['items'] },
    });
    const js = await insertAction(tenantId, await insertApp(tenantId, 'e2e-javascript', null), {
      kind: 'javascript',
      implementation: {
        code: 'console.log("got", input.items.length); return { count: input.items.length, names: input.items.map((i) => i.name) };',
      },
    });
    const hookAppId = await insertApp(tenantId, 'e2e-webhook', null);
    const hookDef = webhookApp.actions[0]!;
    const hook = await insertAction(tenantId, hookAppId, {
      kind: 'http',
      implementation: hookDef.implementation,
      inputSchema: hookDef.inputSchema,
      outputSchema: hookDef.outputSchema,
    });
    const connectionId = await withTenant(db.pool, tenantId, async (c) => {
      const r = await c.query<{ id: ConnectionId }>(
        `insert into connections (tenant_id, app_id, name) values ($1, $2, 'hook') returning id`,
        [tenantId, hookAppId],
      );
      return r.rows[0]!.id;
    });
    const secretBox = testSecretBox();
    await withTenant(db.pool, tenantId, (c) =>
      storeConnectionSecret(c, secretBox, {
        tenantId,
        connectionId,
        secret: { signingSecret: SECRET },
      }),
    );
    const workflowId = await withTenant(db.pool, tenantId, async (c) => {
      const wf = await c.query<{ id: WorkflowId }>(
        `insert into workflows (tenant_id, name) values ($1, 'e2e') returning id`,
        [tenantId],
      );
      const steps = [
        { id: 'fetch', actionId: fetch, input: { q: '{{ trigger.body.q }}' }, onError: 'fail' },
        {
          id: 'transform',
          actionId: js,
          input: { items: '{{ steps.fetch.output.items }}' },
          onError: 'fail',
        },
        {
          id: 'notify',
          actionId: hook,
          connectionId,
          input: { url: `${receiver.url}/hook`, payload: '{{ steps.transform.output }}' },
          onError: 'fail',
        },
      ];
      const v = await c.query<{ id: string }>(
        `insert into workflow_versions (tenant_id, workflow_id, version, definition) values ($1, $2, 1, $3) returning id`,
        [tenantId, wf.rows[0]!.id, JSON.stringify({ steps })],
      );
      await c.query(`update workflows set current_version_id = $2 where id = $1`, [
        wf.rows[0]!.id,
        v.rows[0]!.id,
      ]);
      return wf.rows[0]!.id;
    });

    // The composition root's executor: the real runner on DB-backed stores.
    const runner = createStepExecutor({
      logger: testLogger,
      pool: db.pool,
      secretBox,
      config: {
        gate: gateConfig([api.hostPort, receiver.hostPort]),
        code: {
          memoryLimitMb: 32,
          timeoutMs: 2_000,
          pythonPath: 'python3',
          bwrapPath: '/usr/bin/bwrap',
          warmPoolSize: 0,
          maxConcurrent: 16,
        },
        breaker: { failureThreshold: 5, cooldownMs: 30_000 },
      },
    });
    const deps = engineDeps(db.pool);
    const worker = createWorker(deps, { executor: runner, listenUrl: db.appUrl });
    worker.start();
    try {
      const { runId } = await startRun(deps, {
        tenantId,
        workflowId,
        input: { body: { q: 'widgets' } },
      });
      const run = await waitFor(
        async () => {
          const r = (
            await db.ownerPool.query<{ status: string; output: unknown; error: unknown }>(
              'select status, output, error from workflow_runs where id = $1',
              [runId],
            )
          ).rows[0]!;
          return ['succeeded', 'failed', 'dead', 'canceled'].includes(r.status) && r;
        },
        { what: 'the run to finish', timeoutMs: 25_000 },
      ).catch(async (err: unknown) => {
        // Say where it stopped: the attempts so far and the job.
        const steps = await db.ownerPool.query(
          'select step_id, attempt, status, error_code, error_message from step_runs where run_id = $1 order by started_at',
          [runId],
        );
        const jobs = await db.ownerPool.query('select * from jobs where run_id = $1', [runId]);
        throw new Error(
          `${(err as Error).message}: ${JSON.stringify({ steps: steps.rows, jobs: jobs.rows })}`,
        );
      });
      expect(run.error).toBeNull();
      expect(run.status).toBe('succeeded');

      expect(receiver.requests).toHaveLength(1);
      const delivery = receiver.requests[0]!;
      expect(JSON.parse(delivery.body)).toEqual({ count: 2, names: ['bolt', 'nut'] });
      expect(delivery.headers['idempotency-key']).toBe(`${runId}:notify`);
      expect(delivery.headers['webhook-signature']).toBe(
        signStandardWebhook({
          secret: SECRET,
          id: String(delivery.headers['webhook-id']),
          timestampS: Number(delivery.headers['webhook-timestamp']),
          body: delivery.body,
        }),
      );
      expect(api.requests[0]!.headers['idempotency-key']).toBe(`${runId}:fetch`);

      const logs = await withTenant(db.pool, tenantId, (c) =>
        selectExecutionLogs(c, { tenantId, runId, limit: 50 }),
      );
      expect(logs.map((l) => l.message)).toContain('got 2');
      expect(logs.filter((l) => l.message.startsWith('step succeeded'))).toHaveLength(3);
    } finally {
      await worker.stop();
    }
  });
});
