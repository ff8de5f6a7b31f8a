import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCircuitBreakers } from '../../src/db/queries/circuit-breakers.ts';
import { selectExecutionLogs } from '../../src/db/queries/execution-logs.ts';
import { withTenant } from '../../src/db/tenant.ts';
import type { RunId } from '../../src/model/ids.ts';
import { createCircuitBreaker, type BreakerKey } from '../../src/runner/breaker.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { dbBreakerStore, dbLogSink, dbRateLimiter } from '../support/runner-db.ts';
import { addConnection, makeHarness, makeRequest, never } from '../support/runner-harness.ts';
import { createGate } from '../../src/runner/gate/gate.ts';
import { gateConfig } from '../support/runner-harness.ts';
import { createRunner } from '../../src/runner/runner.ts';
import { createMemoryRateLimiter } from '../../src/runner/rate-limit.ts';
import { testLogger } from '../support/db.ts';

const run = promisify(execFile);
const worker = fileURLToPath(new URL('../support/runner-rate-limit-worker.ts', import.meta.url));

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('rate limit shared through PostgreSQL', () => {
  it('two worker processes together get exactly the limit, the rest a wait', async () => {
    const t = await makeTenant(db.pool);
    const key = `action:${randomUUID()}`;
    const args = [worker, db.appUrl, t.tenantId, key, '12', '10', '60'];
    const [a, b] = await Promise.all([run(process.execPath, args), run(process.execPath, args)]);
    const ra = JSON.parse(a.stdout) as { allowed: number; waits: number[] };
    const rb = JSON.parse(b.stdout) as { allowed: number; waits: number[] };
    expect(ra.allowed + rb.allowed).toBe(10);
    const waits = [...ra.waits, ...rb.waits];
    expect(waits).toHaveLength(14);
    // 10 per 60 s: the next slot opens about 6 s after the first request.
    for (const w of waits) expect(w).toBeGreaterThan(4_000);
    for (const w of waits) expect(w).toBeLessThanOrEqual(6_000);
  });

  it('refills: one slot per interval', async () => {
    const t = await makeTenant(db.pool);
    const limiter = dbRateLimiter(db.pool);
    const p = { tenantId: t.tenantId, key: 'action:x', requests: 20, perSeconds: 1 };
    let allowed = 0;
    for (let i = 0; i < 25; i++) if ((await limiter.acquire(p)).allowed) allowed++;
    expect(allowed).toBeGreaterThanOrEqual(20);
    expect(allowed).toBeLessThan(25);
    await new Promise((r) => setTimeout(r, 120));
    expect((await limiter.acquire(p)).allowed).toBe(true);
  });

  it('is tenant-isolated (RLS)', async () => {
    const t1 = await makeTenant(db.pool);
    const t2 = await makeTenant(db.pool);
    const limiter = dbRateLimiter(db.pool);
    expect(
      (await limiter.acquire({ tenantId: t1.tenantId, key: 'k', requests: 1, perSeconds: 60 }))
        .allowed,
    ).toBe(true);
    expect(
      (await limiter.acquire({ tenantId: t2.tenantId, key: 'k', requests: 1, perSeconds: 60 }))
        .allowed,
    ).toBe(true);
    const seen = await withTenant(db.pool, t2.tenantId, (c) =>
      c.query('select tenant_id from rate_limits'),
    );
    expect(seen.rows.every((r: { tenant_id: string }) => r.tenant_id === t2.tenantId)).toBe(true);
  });
});

describe('circuit breaker state in PostgreSQL', () => {
  it('opens after the threshold, fails fast, lets one probe through after the cool-down, and closes', async () => {
    const t = await makeTenant(db.pool);
    const store = dbBreakerStore(db.pool);
    const breaker = createCircuitBreaker({
      store,
      failureThreshold: 2,
      cooldownMs: 300,
      probeLeaseMs: 5_000,
      probes: 1,
      probeGraceMs: 0,
    });
    const key: BreakerKey = {
      tenantId: t.tenantId,
      host: 'api.example.test',
      connectionId: randomUUID(),
    };
    expect(await breaker.acquire(key)).toEqual({ allowed: true });
    await breaker.record(key, 'failure');
    expect(await breaker.acquire(key)).toEqual({ allowed: true });
    await breaker.record(key, 'failure');
    const denied = await breaker.acquire(key);
    expect(denied.allowed).toBe(false);
    if (!denied.allowed) expect(denied.retryAfterMs).toBeGreaterThan(200);
    const visible = await withTenant(db.pool, t.tenantId, (c) =>
      listCircuitBreakers(c, { tenantId: t.tenantId }),
    );
    expect(visible).toMatchObject([{ host: 'api.example.test', state: 'open', failures: 2 }]);
    await new Promise((r) => setTimeout(r, 320));
    // Two workers race for the probe: exactly one gets it.
    const [p1, p2] = await Promise.all([breaker.acquire(key), breaker.acquire(key)]);
    expect([p1.allowed, p2.allowed].filter(Boolean)).toHaveLength(1);
    await breaker.record(key, 'success');
    expect(await breaker.acquire(key)).toEqual({ allowed: true });
    expect(
      await withTenant(db.pool, t.tenantId, (c) =>
        listCircuitBreakers(c, { tenantId: t.tenantId }),
      ),
    ).toEqual([]);
  });

  it('a failed probe opens it again', async () => {
    const t = await makeTenant(db.pool);
    const breaker = createCircuitBreaker({
      store: dbBreakerStore(db.pool),
      failureThreshold: 1,
      cooldownMs: 100,
      probes: 1,
      probeGraceMs: 0,
    });
    const key: BreakerKey = { tenantId: t.tenantId, host: 'h.test', connectionId: null };
    await breaker.record(key, 'failure');
    expect((await breaker.acquire(key)).allowed).toBe(false);
    await new Promise((r) => setTimeout(r, 120));
    expect((await breaker.acquire(key)).allowed).toBe(true);
    await breaker.record(key, 'failure');
    expect((await breaker.acquire(key)).allowed).toBe(false);
  });
});

describe('execution logs', () => {
  it('stores a step’s log lines with secrets scrubbed', async () => {
    const t = await makeTenant(db.pool);
    const h = makeHarness();
    const runner = createRunner({
      gate: createGate(gateConfig([])),
      connections: { load: (_t, id) => Promise.resolve(h.connections.get(id)!) },
      rateLimiter: createMemoryRateLimiter({ now: () => new Date() }),
      breaker: h.breaker,
      logSink: dbLogSink(db.pool, { now: () => new Date() }),
      clock: { now: () => new Date() },
      logger: testLogger,
      code: { memoryLimitMb: 32, timeoutMs: 2_000, pythonPath: 'python3' },
    });
    const connectionId = addConnection(h, {
      authKind: 'bearer',
      secret: { token: 'tok-SECRET-1234' },
    });
    const runId = randomUUID() as RunId;
    const r = await runner.execute(
      makeRequest({
        action: {
          kind: 'javascript',
          implementation: { code: 'console.log("token is", input.t); return 1;' },
        },
        step: { connectionId, input: { t: 'tok-SECRET-1234' } },
        context: { tenantId: t.tenantId, runId },
      }),
      never,
    );
    expect(r.status).toBe('succeeded');
    const rows = await withTenant(db.pool, t.tenantId, (c) =>
      selectExecutionLogs(c, { tenantId: t.tenantId, runId, limit: 10 }),
    );
    expect(rows.map((l) => l.message)).toEqual([
      'token is [secret]',
      expect.stringMatching(/^step succeeded/),
    ]);
    expect(rows[0]!.data).toEqual({ stepId: 'step1', attempt: 1 });
    expect(JSON.stringify(rows)).not.toContain('tok-SECRET-1234');
  });
});
