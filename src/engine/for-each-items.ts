/**
 * The loop side of step transitions (forEach, migration 0031): a loop's start and its items'
 * ends are written in the transaction that records the transition carrying them, after its
 * guard held — so a loop starts exactly when its main job goes to wait (an item can never end
 * before the main job is pending, where the last one wakes it), and an item's result counts
 * once, by the worker whose claim was current. Transitions without a loop op cost nothing here.
 */
import type { Queryable } from '../db/pool.ts';
import {
  endForEachItems,
  startForEachLoop,
  stopForEachItems,
  type LoopOp,
} from '../db/queries/for-each.ts';
import type { RunId, TenantId } from '../model/ids.ts';

/** Applies the loop ops of a batch's recorded items: starts one by one, ends in one statement. */
export async function applyLoopOps(
  db: Queryable,
  p: { tenantId: TenantId; now: Date; ops: { runId: RunId; op: LoopOp }[] },
): Promise<void> {
  const ends: { runId: RunId; op: Extract<LoopOp, { op: 'end' }> }[] = [];
  for (const { runId, op } of p.ops) {
    if (op.op === 'start')
      await startForEachLoop(db, {
        tenantId: p.tenantId,
        runId,
        loopPc: op.loopPc,
        bodyPc: op.bodyPc,
        itemCount: op.itemCount,
        concurrency: op.concurrency,
        chunkSize: op.chunkSize,
        chunks: op.chunks,
        now: p.now,
      });
    else ends.push({ runId, op });
  }
  if (ends.length === 0) return;
  await endForEachItems(db, {
    tenantId: p.tenantId,
    now: p.now,
    items: ends.map(({ runId, op }) => ({ runId, ...op.item })),
  });
  // onItemError "fail": the other items of a failed loop stop (their late ends are refused:
  // their jobs are gone).
  const failed = ends.filter((e) => e.op.item.failsLoop);
  if (failed.length > 0)
    await stopForEachItems(db, {
      tenantId: p.tenantId,
      now: p.now,
      loops: failed.map(({ runId, op }) => ({
        runId,
        bodyPc: op.item.bodyPc,
        endPc: op.endPc,
      })),
    });
}
