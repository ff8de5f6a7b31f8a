/**
 * forEach over 10,000 items through the real engine and PostgreSQL: every item once, the output
 * in order, the list kept in bounded chunks (no one huge row), within a loose time bound.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker } from '../../src/engine/worker.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { runnerMapping } from '../../src/runner/mapping-evaluator.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  engineDeps,
  makeAction,
  ok,
  scriptedExecutor,
  waitFor,
} from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { jobCountOf, publishV2, runRowOf } from '../support/for-each-workflows.ts';

let db: TestDatabase;
let tenantId: TenantId;
beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
});
afterAll(async () => {
  await db.drop();
});

const N = 10_000;

it('runs 10,000 items, each once, output in order', async () => {
  const act = await makeAction(db.pool, tenantId);
  const workflowId = await publishV2(db.pool, tenantId, {
    steps: [
      { id: 'list', actionId: act },
      {
        id: 'loop',
        type: 'forEach',
        items: '{{ steps.list.output.items }}',
        concurrency: 100,
        steps: [{ id: 'square', actionId: act }],
      },
    ],
  });
  const calls = new Map<number, number>();
  const executor = scriptedExecutor((req) => {
    if (req.step.id === 'list') return ok({ items: Array.from({ length: N }, (_, i) => i) });
    const i = req.context.loop!.item as number;
    calls.set(i, (calls.get(i) ?? 0) + 1);
    return ok(i * i);
  });
  const deps = engineDeps(db.pool, {
    config: { workerConcurrency: 32, tenantMaxConcurrency: 1_000 },
  });
  const worker = createWorker(deps, { executor, listenUrl: db.appUrl, mapping: runnerMapping });
  worker.start();
  try {
    const t0 = performance.now();
    const { runId } = await startRun(deps, { tenantId, workflowId, input: {} });
    // Loose: a 2-core machine shared with other tests.
    const run = await waitFor(
      async () => {
        const r = await runRowOf(db.ownerPool, runId);
        return r.status !== 'queued' && r.status !== 'running' && r.status !== 'waiting' && r;
      },
      { timeoutMs: 240_000, intervalMs: 200, what: 'the 10,000-item run to finish' },
    );
    const seconds = (performance.now() - t0) / 1000;
    expect(run.status).toBe('succeeded');
    expect(calls.size).toBe(N);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    const out = await db.ownerPool.query<{ output: number[] }>(
      `select output from step_runs where run_id = $1 and step_id = 'loop'`,
      [runId],
    );
    expect(out.rows[0]!.output).toEqual(Array.from({ length: N }, (_, i) => i * i));
    // The list in bounded chunks: no row holds it whole.
    const chunks = await db.ownerPool.query<{ n: number; max: number }>(
      `select count(*)::int n, max(jsonb_array_length(items))::int max from for_each_chunks
        where run_id = $1`,
      [runId],
    );
    expect(chunks.rows[0]!.n).toBeGreaterThan(10);
    expect(chunks.rows[0]!.max).toBeLessThanOrEqual(1_000);
    expect(await jobCountOf(db.ownerPool, runId)).toBe(0);
    process.stderr.write(`10,000 items in ${seconds.toFixed(1)} s\n`);
  } finally {
    await worker.stop();
  }
}, 300_000);
