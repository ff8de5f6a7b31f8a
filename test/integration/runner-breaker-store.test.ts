/**
 * Issue 12: the circuit breaker on its PostgreSQL store — a state change is reported once
 * however many workers race, a half-open window admits several probes, and retries (which can
 * show a recovery) probe before first tries.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCircuitBreaker, type BreakerKey } from '../../src/runner/breaker.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { dbBreakerStore } from '../support/runner-db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function keyOf(): Promise<BreakerKey> {
  const t = await makeTenant(db.pool);
  return { tenantId: t.tenantId, host: 'api.example.test', connectionId: randomUUID() };
}

describe('circuit breaker on PostgreSQL', () => {
  it('reports each state change once when many workers record at the same time', async () => {
    const key = await keyOf();
    const changes: string[] = [];
    const breaker = createCircuitBreaker({
      store: dbBreakerStore(db.pool),
      failureThreshold: 3,
      cooldownMs: 200,
      probes: 1,
      probeGraceMs: 0,
      onStateChange: (_k, from, to) => changes.push(`${from}->${to}`),
    });
    await Promise.all(Array.from({ length: 12 }, () => breaker.record(key, 'failure')));
    expect(changes).toEqual(['closed->open']);
    await sleep(220);
    expect((await breaker.acquire(key)).allowed).toBe(true);
    await Promise.all(Array.from({ length: 8 }, () => breaker.record(key, 'success')));
    expect(changes).toEqual(['closed->open', 'half_open->closed']);
  });

  it('a half-open window admits several probes, retries first; one success closes it', async () => {
    const key = await keyOf();
    const breaker = createCircuitBreaker({
      store: dbBreakerStore(db.pool),
      failureThreshold: 1,
      cooldownMs: 150,
      probes: 3,
      probeGraceMs: 400,
      probeLeaseMs: 10_000,
    });
    await breaker.record(key, 'failure');
    await sleep(170);
    // The cool-down is over: a first try still waits (its failure would prove nothing) …
    const first = await breaker.acquire(key);
    expect(first.allowed).toBe(false);
    if (!first.allowed) expect(first.retryAfterMs).toBeLessThanOrEqual(400);
    // … a retry probes at once, and two more calls may probe in the same window.
    expect(await breaker.acquire(key, { retry: true })).toEqual({ allowed: true });
    expect(await breaker.acquire(key)).toEqual({ allowed: true });
    expect(await breaker.acquire(key)).toEqual({ allowed: true });
    expect((await breaker.acquire(key, { retry: true })).allowed).toBe(false);
    // Two probes fail (first tries, say), the third succeeds: closed.
    await breaker.record(key, 'failure');
    await breaker.record(key, 'failure');
    expect((await breaker.acquire(key)).allowed).toBe(false);
    await breaker.record(key, 'success');
    expect(await breaker.acquire(key)).toEqual({ allowed: true });
  });

  it('while a retry to the host succeeds, first tries’ failures do not open it; a retry’s failure does', async () => {
    const key = await keyOf();
    const changes: string[] = [];
    const breaker = createCircuitBreaker({
      store: dbBreakerStore(db.pool),
      failureThreshold: 3,
      cooldownMs: 60_000,
      onStateChange: (_k, from, to) => changes.push(`${from}->${to}`),
    });
    await breaker.record(key, 'failure'); // a first try fails …
    await breaker.record(key, 'success', { retry: true }); // … its retry succeeds
    for (let i = 0; i < 10; i++) await breaker.record(key, 'failure'); // more first tries fail
    expect(await breaker.acquire(key)).toEqual({ allowed: true });
    expect(changes).toEqual([]);
    await breaker.record(key, 'failure', { retry: true }); // a retry fails: the host is down
    expect((await breaker.acquire(key)).allowed).toBe(false);
    expect(changes).toEqual(['closed->open']);
  });

  it('without a recent retry success, first tries’ failures open it as before', async () => {
    const key = await keyOf();
    const breaker = createCircuitBreaker({
      store: dbBreakerStore(db.pool),
      failureThreshold: 3,
      cooldownMs: 60_000,
      retrySuccessTrustMs: 100,
    });
    await breaker.record(key, 'failure');
    await breaker.record(key, 'success', { retry: true });
    await sleep(120);
    for (let i = 0; i < 3; i++) await breaker.record(key, 'failure');
    expect((await breaker.acquire(key)).allowed).toBe(false);
  });

  it('opens again when every probe of the window failed', async () => {
    const key = await keyOf();
    const changes: string[] = [];
    const breaker = createCircuitBreaker({
      store: dbBreakerStore(db.pool),
      failureThreshold: 1,
      cooldownMs: 100,
      probes: 2,
      probeGraceMs: 0,
      onStateChange: (_k, from, to) => changes.push(`${from}->${to}`),
    });
    await breaker.record(key, 'failure');
    await sleep(120);
    expect((await breaker.acquire(key)).allowed).toBe(true);
    expect((await breaker.acquire(key)).allowed).toBe(true);
    await breaker.record(key, 'failure');
    await breaker.record(key, 'failure');
    const denied = await breaker.acquire(key, { retry: true });
    expect(denied.allowed).toBe(false);
    if (!denied.allowed) expect(denied.retryAfterMs).toBeGreaterThan(50);
    expect(changes).toEqual(['closed->open', 'half_open->open']);
  });
});
