/**
 * The hot path's statements, counted on the worker's own pool (real PostgreSQL): a version-1
 * run costs what it did before the program existed (its steps' contexts and start in two
 * statements, then one statement per step); a version-2 run of action steps costs one more, to
 * read its action (a pc is not an index of `definition.steps`).
 */
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPool } from '../../src/db/pool.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker } from '../../src/engine/worker.ts';
import type { RunId, TenantId } from '../../src/model/ids.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import {
  engineDeps,
  makeAction,
  makeWorkflow,
  ok,
  scriptedExecutor,
} from '../support/engine-factories.ts';
import { finalRun, makeWorkflowV2, runnerMapping } from '../support/engine-v2.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let pool: pg.Pool;
let tenantId: TenantId;
const named: string[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
  pool = createPool({
    url: db.appUrl,
    max: 4,
    connectTimeoutMs: 5_000,
    applicationName: 'statements-test',
    logger: testLogger,
  });
  // Every named (hot-path) statement the worker's tenant transactions send; the transitions'
  // statement has a name per shape of batch (the writes its items need), counted as one.
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
      const first = args[0] as { name?: string } | string;
      if (typeof first === 'object' && first?.name)
        named.push(first.name.replace(/^(sy_record_step_transitions)_[01]+$/, '$1'));
      return query(...args);
    };
  });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const ENGINE = [
  'sy_select_step_contexts',
  'sy_start_step_attempts',
  'sy_record_step_transitions',
  'sy_select_action_rows',
];

async function statementsOf(runId: () => Promise<RunId>): Promise<Record<string, number>> {
  named.length = 0;
  const id = await runId();
  expect((await finalRun(db, id)).status).toBe('succeeded');
  const counts: Record<string, number> = {};
  for (const n of named.filter((s) => ENGINE.includes(s))) counts[n] = (counts[n] ?? 0) + 1;
  return counts;
}

it('a version-1 run gains no statement; a version-2 run reads its actions once', async () => {
  const worker = createWorker(engineDeps(pool), {
    executor: scriptedExecutor(() => ok()),
    listenUrl: db.appUrl,
    mapping: runnerMapping,
  });
  worker.start();
  try {
    const act = await makeAction(db.pool, tenantId);
    const steps = ['a', 'b', 'c'].map((id) => ({ id, actionId: act }));
    const v1 = await makeWorkflow(db.pool, tenantId, steps);
    const v2 = await makeWorkflowV2(db.pool, tenantId, { version: 2, steps });
    const start = (workflowId: string) => async () =>
      (
        await startRun(engineDeps(db.pool), {
          tenantId,
          workflowId: workflowId as never,
          input: {},
        })
      ).runId;

    expect(await statementsOf(start(v1.workflowId))).toEqual({
      sy_select_step_contexts: 1,
      sy_start_step_attempts: 1,
      sy_record_step_transitions: 3,
    });
    expect(await statementsOf(start(v2.workflowId))).toEqual({
      sy_select_step_contexts: 1,
      sy_start_step_attempts: 1,
      sy_select_action_rows: 1,
      sy_record_step_transitions: 3,
    });
  } finally {
    await worker.stop();
  }
});
