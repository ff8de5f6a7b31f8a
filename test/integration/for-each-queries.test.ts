/**
 * The forEach statements (src/db/queries/for-each.ts) on a real PostgreSQL, driven by hand as
 * the engine drives them: start, item ends (spawn, count, wake), stop on a failed item, collect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  endForEachItems,
  stopForEachItems,
  type EndedItem,
} from '../../src/db/queries/for-each-ends.ts';
import {
  chunkItems,
  collectForEachResults,
  selectForEachLoop,
  selectLoopItems,
  startForEachLoop,
} from '../../src/db/queries/for-each.ts';
import { withTenant } from '../../src/db/tenant.ts';
import { startRun } from '../../src/engine/start-run.ts';
import type { RunId, TenantId } from '../../src/model/ids.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let tenantId: TenantId;
beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
});
afterAll(async () => {
  await db.drop();
});

const LOOP_PC = 1;
const BODY_PC = 2;

async function newRun(): Promise<RunId> {
  const act = await makeAction(db.pool, tenantId);
  const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 'a', actionId: act }]);
  const { runId } = await startRun(engineDeps(db.pool), {
    tenantId,
    workflowId,
    input: {},
    triggerId: null,
  });
  // The main job waits at the loop's pc, due far ahead, as the engine leaves it.
  await db.ownerPool.query(
    `update jobs set step_index = $2, status = 'waiting', run_at = now() + interval '30 days'
      where run_id = $1`,
    [runId, LOOP_PC],
  );
  return runId;
}

const start = (runId: RunId, items: unknown[], concurrency: number, chunkSize = 3) =>
  withTenant(db.pool, tenantId, (c) =>
    startForEachLoop(c, {
      tenantId,
      runId,
      loopPc: LOOP_PC,
      bodyPc: BODY_PC,
      itemCount: items.length,
      concurrency,
      chunkSize,
      chunks: chunkItems(items, chunkSize),
      now: new Date(),
    }),
  );

const itemJobs = async (runId: RunId) =>
  (
    await db.ownerPool.query<{ item_index: number }>(
      `select item_index from jobs where run_id = $1 and item_index is not null order by item_index`,
      [runId],
    )
  ).rows.map((r) => r.item_index);

/** Ends items as the engine does: the item job deleted, then the statement, one transaction. */
const end = (runId: RunId, items: Partial<EndedItem>[]) =>
  withTenant(db.pool, tenantId, async (c) => {
    for (const i of items)
      await c.query(`delete from jobs where run_id = $1 and item_index = $2`, [runId, i.itemIndex]);
    return endForEachItems(c, {
      tenantId,
      now: new Date(),
      items: items.map((i) => ({
        runId,
        loopPc: LOOP_PC,
        bodyPc: BODY_PC,
        bodyStepId: 'a',
        bodyActionId: null,
        itemIndex: i.itemIndex!,
        failed: i.failed ?? false,
        result: i.result ?? JSON.stringify({ n: i.itemIndex }),
        failsLoop: i.failsLoop ?? false,
      })),
    });
  });

const mainDueNow = async (runId: RunId) =>
  (
    await db.ownerPool.query<{ due: boolean }>(
      `select run_at <= now() and status = 'pending' as due from jobs
        where run_id = $1 and item_index is null`,
      [runId],
    )
  ).rows[0]!.due;

describe('forEach statements', () => {
  it('spawns at most `concurrency` items, one more per ended item, and wakes the main job once all ended', async () => {
    const runId = await newRun();
    const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    expect(await start(runId, items, 3)).toBe(true);
    // A second start (a worker lost after starting) changes nothing.
    expect(await start(runId, items, 3)).toBe(false);
    expect(await itemJobs(runId)).toEqual([0, 1, 2]);

    const picked = await withTenant(db.pool, tenantId, (c) =>
      selectLoopItems(c, {
        tenantId,
        items: [4, 6, 0].map((i) => ({ runId, loopPc: LOOP_PC, itemIndex: i })),
      }),
    );
    expect(picked).toEqual(['e', 'g', 'a']);

    expect(await end(runId, [{ itemIndex: 1 }])).toEqual([
      {
        runId,
        loopPc: LOOP_PC,
        woken: false,
        spawned: [expect.objectContaining({ itemIndex: 3, stepIndex: BODY_PC })],
      },
    ]);
    expect(await itemJobs(runId)).toEqual([0, 2, 3]);
    // Ended twice (a repeat): counted once, nothing spawned.
    expect(await end(runId, [{ itemIndex: 1 }])).toEqual([]);
    expect(await itemJobs(runId)).toEqual([0, 2, 3]);
    await end(runId, [{ itemIndex: 0 }, { itemIndex: 3 }]);
    expect(await itemJobs(runId)).toEqual([2, 4, 5]);
    await end(runId, [{ itemIndex: 4 }, { itemIndex: 5 }]);
    expect(await itemJobs(runId)).toEqual([2, 6]);
    expect(await mainDueNow(runId)).toBe(false);
    await end(runId, [{ itemIndex: 6 }]);
    expect(await mainDueNow(runId)).toBe(false);
    const last = await end(runId, [
      {
        itemIndex: 2,
        failed: true,
        result: JSON.stringify({ error: { code: 'E_X', message: 'x' } }),
      },
    ]);
    expect(last).toEqual([{ runId, loopPc: LOOP_PC, woken: true, spawned: [] }]);
    expect(await mainDueNow(runId)).toBe(true);
    const output = await withTenant(db.pool, tenantId, (c) =>
      collectForEachResults(c, { tenantId, runId, loopPc: LOOP_PC }),
    );
    expect(JSON.parse(output)).toEqual([
      { n: 0 },
      { n: 1 },
      { error: { code: 'E_X', message: 'x' } },
      { n: 3 },
      { n: 4 },
      { n: 5 },
      { n: 6 },
    ]);
  });

  it('an item failing the loop stops spawning, stops the items in flight and wakes the main job', async () => {
    const runId = await newRun();
    await start(runId, [1, 2, 3, 4, 5, 6], 3);
    const failure = { error: { code: 'E_X', message: 'boom' } };
    const [ended] = await end(runId, [
      { itemIndex: 1, failed: true, failsLoop: true, result: JSON.stringify(failure) },
    ]);
    expect(ended).toMatchObject({ woken: true, spawned: [] });
    const stopped = await withTenant(db.pool, tenantId, (c) =>
      stopForEachItems(c, {
        tenantId,
        now: new Date(),
        loops: [{ runId, bodyPc: BODY_PC, endPc: BODY_PC + 1 }],
      }),
    );
    expect(stopped).toBe(2);
    expect(await itemJobs(runId)).toEqual([]);
    expect(await mainDueNow(runId)).toBe(true);
    const state = await withTenant(db.pool, tenantId, (c) =>
      selectForEachLoop(c, { tenantId, runId, loopPc: LOOP_PC }),
    );
    expect(state).toEqual({ itemCount: 6, finished: 1, failedItem: 1, failure });
  });

  it('a run’s loop goes with the run (retention deletes runs)', async () => {
    const runId = await newRun();
    await start(runId, [1, 2, 3], 2);
    await end(runId, [{ itemIndex: 0 }]);
    await withTenant(db.pool, tenantId, (c) =>
      c.query('delete from workflow_runs where id = $1', [runId]),
    );
    const left = await db.ownerPool.query<{ n: number }>(
      `select (select count(*) from for_each_loops where run_id = $1)
            + (select count(*) from for_each_chunks where run_id = $1)
            + (select count(*) from for_each_results where run_id = $1) as n`,
      [runId],
    );
    expect(Number(left.rows[0]!.n)).toBe(0);
  });

  it('keeps 10,000 items in bounded chunks and spawns only the first ones', async () => {
    const runId = await newRun();
    const items = Array.from({ length: 10_000 }, (_, i) => ({ i, pad: 'x'.repeat(40) }));
    await start(runId, items, 50, 250);
    const chunks = await db.ownerPool.query<{ n: number; max: number }>(
      `select count(*)::int as n, max(jsonb_array_length(items))::int as max
         from for_each_chunks where run_id = $1`,
      [runId],
    );
    expect(chunks.rows[0]).toEqual({ n: 40, max: 250 });
    expect((await itemJobs(runId)).length).toBe(50);
    const [item] = await withTenant(db.pool, tenantId, (c) =>
      selectLoopItems(c, { tenantId, items: [{ runId, loopPc: LOOP_PC, itemIndex: 9_876 }] }),
    );
    expect(item).toEqual({ i: 9_876, pad: 'x'.repeat(40) });
  });
});
