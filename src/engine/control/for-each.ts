/**
 * forEach: the body runs once per item, each item a job of its own (migration 0031), at most
 * `concurrency` at once.
 *
 * - `start`: the list is evaluated once. Empty: the step succeeds with `[]` at once. Else the
 *   loop's job waits (the generic wait) and the same transaction starts the loop — its list in
 *   chunks, the jobs of its first items (db/queries/for-each.ts, via the transition's `loop`).
 * - Each item walks the body's pcs like a run's job; its end (the body's last instruction going
 *   to `item-end`, or a failure for good) is recorded with its transition: its result, the next
 *   item's job, and — the last one, or the first failure under onItemError "fail" — the loop's
 *   job and StepRun made due now (outcome.ts `loop`, engine/for-each-items.ts).
 * - `due`: the loop's job is claimed again. Over: the results in item order are the step's
 *   output, or the failing item's error fails it (its onError applies). Not over (its far
 *   deadline passed, or an early claim): it waits again.
 */
import {
  chunkItems,
  collectForEachResults,
  FOR_EACH_CHUNK_SIZE,
  selectForEachLoop,
} from '../../db/queries/for-each.ts';
import { withTenant } from '../../db/tenant.ts';
import { SwitchyardError } from '../../model/errors.ts';
import type { Instruction } from '../../model/program.ts';
import type { ControlHandler } from './index.ts';
import { mappingOf } from './support.ts';

/**
 * How long the loop's job waits before it looks again by itself: the items' end wakes it at
 * once, so this only bounds a wake-up lost with a database restored from a backup.
 */
export const FOR_EACH_RECHECK_MS = 24 * 60 * 60 * 1000;

type ForEach = Extract<Instruction, { kind: 'forEach' }>;

export const forEachHandler: ControlHandler<'forEach'> = {
  start({ instruction: ins, context, now }, deps) {
    if (ins.loopPc !== null)
      throw new SwitchyardError(
        'E_VALIDATION',
        `${ins.path}: a forEach inside another forEach's steps is not supported yet.`,
      );
    const items = mappingOf(deps).resolve(ins.items, context);
    if (!Array.isArray(items))
      throw new SwitchyardError(
        'E_VALIDATION',
        `${ins.path}.items: ${ins.items} resolved to ${describe(items)}, not a list.`,
      );
    if (items.length === 0) return { kind: 'succeed', output: [], input: { itemCount: 0 } };
    return {
      kind: 'wait',
      until: new Date(now.getTime() + FOR_EACH_RECHECK_MS),
      input: { itemCount: items.length },
      loop: loopStart(ins, items),
    };
  },
  async due({ instruction: ins, context, now }, deps) {
    const { runId, tenantId } = context;
    const state = await withTenant(deps.pool, tenantId, (db) =>
      selectForEachLoop(db, { tenantId, runId, loopPc: ins.pc }),
    );
    if (!state)
      return {
        kind: 'fail',
        error: { code: 'E_INTERNAL', message: `${ins.path}: the loop's items are gone.` },
      };
    if (state.failedItem !== null) {
      const e = (state.failure as { error?: { code?: string; message?: string } } | null)?.error;
      return {
        kind: 'fail',
        error: {
          code: e?.code ?? 'E_INTERNAL',
          message: `Item ${state.failedItem} failed: ${e?.message ?? 'no message'}`,
        },
      };
    }
    if (state.finished < state.itemCount)
      return { kind: 'wait', until: new Date(now.getTime() + FOR_EACH_RECHECK_MS) };
    const output = await withTenant(deps.pool, tenantId, (db) =>
      collectForEachResults(db, { tenantId, runId, loopPc: ins.pc }),
    );
    return { kind: 'succeed', output: JSON.parse(output) as unknown[] };
  },
};

function loopStart(ins: ForEach, items: unknown[]) {
  return {
    op: 'start' as const,
    loopPc: ins.pc,
    bodyPc: ins.bodyPc,
    itemCount: items.length,
    concurrency: ins.concurrency,
    chunkSize: FOR_EACH_CHUNK_SIZE,
    chunks: chunkItems(items, FOR_EACH_CHUNK_SIZE),
  };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
