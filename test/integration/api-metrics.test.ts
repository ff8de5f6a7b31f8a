import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenantId, WorkflowId } from '../../src/model/ids.ts';
import { registerQueueGauges } from '../../src/observability/queue-gauges.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let tenantId: TenantId;
let workflowId: WorkflowId;
beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  tenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId);
  workflowId = (await makeWorkflow(db.pool, tenantId, [{ id: 'a', actionId }])).workflowId;
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

/** The value of one sample line of the exposition, e.g. `switchyard_queue_jobs{state="running"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('queue gauges on /metrics', () => {
  it('show running, delayed and pending jobs and how long the oldest due job has waited', async () => {
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        api.engine.startRun({ tenantId, workflowId, input: { i } }),
      ),
    );
    const setJob = (i: number, set: string) =>
      db.ownerPool.query(`update jobs set ${set} where run_id = $1`, [runs[i]!.runId]);
    // Two claimed by a worker, one waiting out a backoff, the other three due, the oldest 90 s.
    for (const i of [0, 1])
      await setJob(
        i,
        `status = 'running', locked_by = 'w', lease_expires_at = now() + interval '1 minute'`,
      );
    await setJob(2, `run_at = now() + interval '10 minutes'`);
    await setJob(3, `run_at = now() - interval '90 seconds'`);

    // Pending comes from PostgreSQL's live-row estimate, which follows within seconds.
    await expect
      .poll(
        async () => {
          const text = await (await fetch(`${api.url}/metrics`)).text();
          return {
            up: sample(text, 'switchyard_queue_gauges_up'),
            running: sample(text, 'switchyard_queue_jobs{state="running"}'),
            delayed: sample(text, 'switchyard_queue_jobs{state="delayed"}'),
            pending: sample(text, 'switchyard_queue_jobs{state="pending"}'),
          };
        },
        { timeout: 20_000, interval: 500 },
      )
      .toEqual({ up: 1, running: 2, delayed: 1, pending: 3 });
    const text = await (await fetch(`${api.url}/metrics`)).text();
    const oldest = sample(text, 'switchyard_queue_oldest_due_seconds')!;
    expect(oldest).toBeGreaterThanOrEqual(90);
    expect(oldest).toBeLessThan(150);
  });

  it('a scrape still answers when the database is down, and says the gauges are stale', async () => {
    const dead = new pg.Pool({
      connectionString: 'postgres://nobody@127.0.0.1:1/none',
      connectionTimeoutMillis: 2_000,
    });
    try {
      const registry = new Registry();
      registerQueueGauges(registry, { pool: dead, logger: testLogger });
      const text = await registry.metrics();
      expect(sample(text, 'switchyard_queue_gauges_up')).toBe(0);
      expect(sample(text, 'switchyard_queue_jobs{state="pending"}')).toBeUndefined();
    } finally {
      await dead.end();
    }
  });
});
