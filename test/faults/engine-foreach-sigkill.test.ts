/**
 * SIGKILL the worker process in the middle of a forEach: its items in flight are claimed again
 * by another worker after their lease; every item's result is in the loop's output exactly
 * once, in order, and the run finishes once.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, waitFor } from '../support/engine-factories.ts';
import {
  shortLeaseWorkerEnv,
  spawnEngineProcess,
  type EngineProcess,
} from '../support/engine-spawn.ts';
import { makeTenant } from '../support/factories.ts';
import { jobCountOf, publishV2, runRowOf, stepRowsOf } from '../support/for-each-workflows.ts';

let db: TestDatabase;
const procs: EngineProcess[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
});
afterAll(async () => {
  await db.drop();
});

const N = 24;

it('a worker killed mid-loop: every item’s result exactly once, in order; the run finishes once', async () => {
  const tenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId, {
    retryStrategy: 'fixed',
    maxAttempts: 3,
    initialDelayMs: 0,
  });
  const workflowId = await publishV2(db.pool, tenantId, {
    steps: [
      {
        id: 'loop',
        type: 'forEach',
        items: '{{ trigger.items }}',
        concurrency: 4,
        steps: [{ id: 'work', actionId, input: { sleepMs: 300 } }],
      },
      { id: 'after', actionId, input: { sleepMs: 0 } },
    ],
  });
  const env = shortLeaseWorkerEnv(db.appUrl, { WORKER_CONCURRENCY: '8' });
  const victim = spawnEngineProcess(env);
  procs.push(victim);
  await victim.ready;
  const items = Array.from({ length: N }, (_, i) => `item-${i}`);
  const { runId } = await startRun(engineDeps(db.pool), {
    tenantId,
    workflowId,
    input: { items },
  });
  // Some items done, four in the middle of their step.
  await waitFor(() => victim.events.filter((e) => e.event === 'step-start').length >= 10, {
    timeoutMs: 20_000,
    what: 'the victim to be in the middle of the loop',
  });
  await victim.kill('SIGKILL');
  const rescuer = spawnEngineProcess(env);
  procs.push(rescuer);
  const run = await waitFor(
    async () => {
      const r = await runRowOf(db.ownerPool, runId);
      return ['succeeded', 'failed', 'dead', 'canceled'].includes(r.status) && r;
    },
    { timeoutMs: 40_000, what: 'the run to finish on the rescuer' },
  );
  expect(run.status).toBe('succeeded');

  const rows = await stepRowsOf(db.ownerPool, runId);
  const loop = rows.filter((r) => r.step_id === 'loop');
  expect(loop.map((r) => r.status)).toEqual(['succeeded']);
  const output = loop[0]!.output as { pid: number; item: number }[];
  expect(output.map((o) => o.item)).toEqual(items.map((_, i) => i));
  // The items the victim held were claimed again: their lost attempt is recorded, and each
  // item succeeded exactly once.
  const work = rows.filter((r) => r.step_id === 'work');
  const succeeded = work.filter((r) => r.status === 'succeeded').map((r) => r.item_index);
  expect(succeeded.sort((a, b) => a! - b!)).toEqual(items.map((_, i) => i));
  const lost = work.filter((r) => r.error_code === 'E_WORKER_LOST');
  expect(lost.length).toBeGreaterThan(0);
  expect(work.filter((r) => r.status === 'running')).toEqual([]);
  const results = await db.ownerPool.query<{ n: number }>(
    'select count(*)::int n from for_each_results where run_id = $1',
    [runId],
  );
  expect(results.rows[0]!.n).toBe(N);
  expect(rows.filter((r) => r.step_id === 'after').map((r) => r.status)).toEqual(['succeeded']);
  expect(await jobCountOf(db.ownerPool, runId)).toBe(0);
}, 90_000);
