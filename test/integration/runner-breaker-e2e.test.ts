/**
 * Issue 12, through the engine's worker and the composition root's executor on PostgreSQL:
 *  - a database error in the circuit breaker's writes never fails a run for good: after the
 *    call it costs the breaker a data point (the call's answer stands); before the call it is
 *    a retryable E_DB_UNREACHABLE and the step is retried;
 *  - a burst against an upstream that fails every request's first try opens the breaker, and
 *    the runs still all finish quickly: retries probe first and can show the recovery;
 *  - while a step is handed back by the open breaker, the run shows as waiting (GraphQL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepExecutor } from '../../src/cli/executor.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker } from '../../src/engine/worker.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps, waitFor } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { codeConfig, gateConfig } from '../support/runner-harness.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';
import {
  insertAction,
  insertApp,
  publishWorkflow,
  waitForRunEnd,
} from '../support/runner-workflows.ts';
import { testSecretBox } from '../support/security-fixtures.ts';

let db: TestDatabase;
let upstream: LocalServer;
let api: TestApi;
/** Tries seen per Idempotency-Key: the first of each fails with 503, the others succeed. */
const tries = new Map<string, number>();
beforeAll(async () => {
  db = await createTestDatabase();
  upstream = await startServer((req, res) => {
    if (req.url.startsWith('/ok')) return sendJson(res, 200, { ok: true });
    const key = String(req.headers['idempotency-key']);
    const n = (tries.get(key) ?? 0) + 1;
    tries.set(key, n);
    return n === 1 ? sendJson(res, 503, { firstTry: true }) : sendJson(res, 200, { try: n });
  });
  api = await startTestApi(db);
});
afterAll(async () => {
  await api.close();
  await upstream.close();
  await db.drop();
});

function executor(breaker: { failureThreshold: number; cooldownMs: number }, logger = testLogger) {
  return createStepExecutor({
    logger,
    pool: db.pool,
    secretBox: testSecretBox(),
    config: {
      gate: gateConfig([upstream.hostPort]),
      code: codeConfig(),
      breaker,
    },
  });
}

async function oneStepWorkflow(tenantId: TenantId, path: string, retryDelayMs: number) {
  const appId = await insertApp(db.pool, tenantId, { key: 'up', baseUrl: upstream.url });
  const actionId = await insertAction(db.pool, tenantId, appId, {
    kind: 'http',
    implementation: { method: 'POST', path },
    retryStrategy: 'fixed',
    maxAttempts: 5,
    initialDelayMs: retryDelayMs,
  });
  return publishWorkflow(db.pool, tenantId, [{ id: 'call', actionId }]);
}

const revoke = () =>
  db.ownerPool.query('revoke insert, update, delete on circuit_breakers from switchyard_runtime');
const grant = () =>
  db.ownerPool.query('grant insert, update, delete on circuit_breakers to switchyard_runtime');

describe('a database error in the breaker during an attempt', () => {
  it('after the call: the call’s success stands and the run succeeds', async () => {
    const t = await makeTenant(db.pool);
    const workflowId = await oneStepWorkflow(t.tenantId, '/ok', 100);
    const deps = engineDeps(db.pool);
    const worker = createWorker(deps, {
      executor: executor({ failureThreshold: 5, cooldownMs: 30_000 }),
      listenUrl: db.appUrl,
    });
    await revoke();
    worker.start();
    try {
      // The runtime role really cannot write the breaker now.
      await expect(
        db.pool.query(`update circuit_breakers set failures = 0 where false`),
      ).rejects.toThrow(/permission denied/);
      const { runId } = await startRun(deps, { tenantId: t.tenantId, workflowId, input: {} });
      const run = await waitForRunEnd(db.ownerPool, runId);
      expect(run).toMatchObject({ status: 'succeeded', error: null });
    } finally {
      await grant();
      await worker.stop();
    }
  });

  it('before the call (claiming the probe): retryable E_DB_UNREACHABLE, then success once the grant is back', async () => {
    const t = await makeTenant(db.pool);
    const workflowId = await oneStepWorkflow(t.tenantId, '/ok', 150);
    // An open breaker whose cool-down is long over: the next call must claim the probe (a write).
    await db.ownerPool.query(
      `insert into circuit_breakers (tenant_id, host, connection_key, state, failures, open_until, opened_at)
       values ($1, $2, '', 'open', 5, now() - interval '10 seconds', now() - interval '40 seconds')`,
      [t.tenantId, upstream.hostPort],
    );
    const deps = engineDeps(db.pool);
    const worker = createWorker(deps, {
      executor: executor({ failureThreshold: 5, cooldownMs: 30_000 }),
      listenUrl: db.appUrl,
    });
    await revoke();
    worker.start();
    try {
      const { runId } = await startRun(deps, { tenantId: t.tenantId, workflowId, input: {} });
      await waitFor(
        async () =>
          (
            await db.ownerPool.query(
              `select 1 from step_runs where run_id = $1 and error_code = 'E_DB_UNREACHABLE'`,
              [runId],
            )
          ).rowCount,
        { what: 'an attempt failed with E_DB_UNREACHABLE' },
      );
      const mid = await db.ownerPool.query<{ status: string }>(
        'select status from workflow_runs where id = $1',
        [runId],
      );
      expect(mid.rows[0]!.status).toBe('running');
      await grant();
      const run = await waitForRunEnd(db.ownerPool, runId);
      expect(run.status).toBe('succeeded');
      const codes = await db.ownerPool.query<{
        error_code: string | null;
        error_retryable: boolean;
      }>('select error_code, error_retryable from step_runs where run_id = $1', [runId]);
      expect(codes.rows.map((r) => r.error_code)).not.toContain('E_INTERNAL');
      expect(codes.rows.filter((r) => r.error_code !== null).every((r) => r.error_retryable)).toBe(
        true,
      );
    } finally {
      await grant();
      await worker.stop();
    }
  });
});

describe('a burst against an upstream that fails every first try', () => {
  it('opens the breaker, shows the deferred runs as waiting, and finishes every run', async () => {
    const t = await makeTenant(db.pool);
    const workflowId = await oneStepWorkflow(t.tenantId, '/first-fails', 100);
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', name: 'burst' }, { write: (l) => lines.push(l) });
    const cooldownMs = 1_000;
    const deps = engineDeps(db.pool);
    const worker = createWorker(deps, {
      executor: executor({ failureThreshold: 5, cooldownMs }, logger),
      listenUrl: db.appUrl,
    });
    const viewer = (
      await api.gql<{ createApiToken: { secret: string } }>(
        'mutation { createApiToken(name: "viewer", role: viewer) { secret } }',
        {},
        { token: t.apiToken },
      )
    ).data!.createApiToken.secret;
    const N = 40;
    worker.start();
    const started = Date.now();
    try {
      const runIds = await Promise.all(
        Array.from({ length: N }, async () => {
          const { runId } = await startRun(deps, { tenantId: t.tenantId, workflowId, input: {} });
          return runId;
        }),
      );
      // While the breaker is open, deferred runs say so.
      const waiting = await waitFor(
        async () => {
          const r = await api.gql<{
            runs: { nodes: { waiting: { until: string; reason: string } | null }[] };
          }>(
            '{ runs(first: 100, filter: { statuses: [running] }) { nodes { waiting { until reason } } } }',
            {},
            { token: viewer },
          );
          expect(r.errors).toBeUndefined();
          return r.data!.runs.nodes.find((n) => n.waiting?.reason === 'CIRCUIT_BREAKER');
        },
        { what: 'a run waiting for the circuit breaker', timeoutMs: 10_000, intervalMs: 50 },
      );
      expect(Date.parse(waiting.waiting!.until)).toBeGreaterThan(Date.now() - 5_000);

      for (const runId of runIds) {
        const run = await waitForRunEnd(db.ownerPool, runId, 60_000);
        expect(run.status).toBe('succeeded');
      }
      const elapsedMs = Date.now() - started;
      const changes = lines
        .map((l) => JSON.parse(l) as { msg: string; from?: string; to?: string })
        .filter((l) => l.msg === 'circuit breaker state changed')
        .map((l) => `${l.from}->${l.to}`);
      // The breaker did open, and a probe showed the recovery (closed it).
      expect(changes).toContain('closed->open');
      expect(changes).toContain('half_open->closed');
      // Bounded by a few cool-downs, not one per batch of worker slots (measured: about 2.5 s
      // here; 32 s before retries probed first and vouched for the host).
      console.log(`burst of ${N}: ${elapsedMs} ms; breaker changes: ${changes.join(', ')}`);
      expect(elapsedMs).toBeLessThan(8 * cooldownMs);
    } finally {
      await worker.stop();
    }
  }, 90_000);
});
