/**
 * The loop side of step transitions (forEach, migration 0031): a loop's start and its items'
 * ends are written in the transaction that records the transition carrying them, after its
 * guard held — so a loop starts exactly when its main job goes to wait (an item can never end
 * before the main job is pending, where the last one wakes it), and an item's result counts
 * once, by the worker whose claim was current. Transitions without a loop op cost nothing here.
 */
import type { Queryable } from '../db/pool.ts';
import { endForEachItems, stopForEachItems, type LoopClaim } from '../db/queries/for-each-ends.ts';
import { selectLoopItems, startForEachLoop, type LoopOp } from '../db/queries/for-each.ts';
import type { ClaimedJob } from '../db/queries/jobs.ts';
import type { RunStepContext } from '../db/queries/step-context.ts';
import { programOf } from './programs.ts';
import { isUuid, type RunId, type TenantId } from '../model/ids.ts';
import type { Program } from '../model/program.ts';

/**
 * Applies the loop ops of a batch's recorded items: starts one by one, ends in one statement.
 * With `claim`, the items the ends spawn are claimed for this worker and answered by op (the
 * index in `ops`): each goes on in the slot of an item that ended, without a claim of its own.
 */
export async function applyLoopOps(
  db: Queryable,
  p: {
    tenantId: TenantId;
    now: Date;
    ops: { runId: RunId; op: LoopOp }[];
    claim?: { workerId: string; leaseUntil: Date } | null;
  },
): Promise<Map<number, LoopClaim>> {
  const claimed = new Map<number, LoopClaim>();
  const ends: { n: number; runId: RunId; op: Extract<LoopOp, { op: 'end' }> }[] = [];
  for (const [n, { runId, op }] of p.ops.entries()) {
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
    else ends.push({ n, runId, op });
  }
  if (ends.length === 0) return claimed;
  const loops = await endForEachItems(db, {
    tenantId: p.tenantId,
    now: p.now,
    items: ends.map(({ runId, op }) => ({ runId, ...op.item })),
    claim: p.claim ?? null,
  });
  if (p.claim)
    for (const loop of loops) {
      // Each spawned item to the slot of one of the loop's ended items.
      const slots = ends.filter((e) => e.runId === loop.runId && e.op.item.loopPc === loop.loopPc);
      loop.spawned.forEach((s, k) => {
        const slot = slots[k];
        if (slot)
          claimed.set(slot.n, {
            job: {
              tenantId: p.tenantId,
              jobId: s.jobId,
              runId: loop.runId,
              stepIndex: s.stepIndex,
              attempt: 1,
              itemIndex: s.itemIndex,
              loopItem: s.item,
            },
            stepRunId: s.stepRunId,
            action: s.action,
          });
      });
    }
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
  return claimed;
}

/** What an item job knows of its loop (AttemptPlan.item, prepare.ts). */
export type ItemPlan = {
  index: number;
  loopPc: number;
  bodyPc: number;
  /** The first pc after the body. */
  endPc: number;
  /** The body's last top-level instruction: its output is the item's result. */
  lastPc: number;
  lastStepId: string;
  /** The body's first step: its id and action (null: a control step). */
  bodyStepId: string;
  bodyActionId: string | null;
  onItemError: 'fail' | 'continue';
};

/** The loop of an item job at `pc` (its innermost forEach), or null outside any loop. */
export function itemPlanOf(program: Program, pc: number, itemIndex: number): ItemPlan | null {
  const loopPc = program.instructions[pc]?.loopPc ?? null;
  const loop = loopPc === null ? null : program.instructions[loopPc];
  if (!loop || loop.kind !== 'forEach') return null;
  const first = program.instructions[loop.bodyPc];
  return {
    index: itemIndex,
    loopPc: loop.pc,
    bodyPc: loop.bodyPc,
    endPc: bodyEndOf(program, loop.pc),
    lastPc: loop.lastPc,
    lastStepId: program.instructions[loop.lastPc]?.stepId ?? `#${loop.lastPc}`,
    bodyStepId: first?.stepId ?? `#${loop.bodyPc}`,
    bodyActionId:
      first?.kind === 'action' && isUuid(first.step.actionId) ? first.step.actionId : null,
    onItemError: loop.onItemError,
  };
}

/** The first pc after a block's body: the body is laid out right after its instruction. */
function bodyEndOf(program: Program, blockPc: number): number {
  let pc = blockPc + 1;
  while (pc < program.instructions.length && encloses(program, blockPc, pc)) pc++;
  return pc;
}

function encloses(program: Program, loopPc: number, pc: number): boolean {
  for (let p = program.instructions[pc]?.loopPc ?? null; p !== null;) {
    if (p === loopPc) return true;
    p = program.instructions[p]?.loopPc ?? null;
  }
  return false;
}

/**
 * The loop op of an item's end: its result is the body's last top-level step's output (null
 * when that step was skipped), as it stands in the item's outputs once its last step is in
 * them; a failed item's is `{ "error": { code, message } }`.
 */
export function itemEndOf(
  item: ItemPlan,
  end: { outputs: Record<string, unknown> } | { error: { code: string; message: string } },
): LoopOp {
  const failed = 'error' in end;
  const result = failed
    ? { error: { code: end.error.code, message: end.error.message } }
    : (end.outputs[item.lastStepId] ?? null);
  return {
    op: 'end',
    endPc: item.endPc,
    item: {
      loopPc: item.loopPc,
      bodyPc: item.bodyPc,
      bodyStepId: item.bodyStepId,
      bodyActionId: item.bodyActionId,
      itemIndex: item.index,
      failed,
      result: JSON.stringify(result),
      failsLoop: failed && item.onItemError === 'fail',
    },
  };
}

/**
 * An item's outputs without its own body's: what the next item starts with (the steps before
 * the loop; their outputs are the same for every item).
 */
export function outputsBeforeLoop(
  run: { program: Program },
  item: ItemPlan,
  outputs: Record<string, unknown>,
): Record<string, unknown> {
  const body = new Set(
    run.program.instructions.slice(item.bodyPc, item.endPc).map((i) => i.stepId),
  );
  return Object.fromEntries(Object.entries(outputs).filter(([id]) => !body.has(id)));
}

/** The claimed jobs, those of forEach items with their item (`ClaimedJob.loopItem`). */
export async function withLoopItems(
  deps: { programs?: Map<string, Program> },
  db: Queryable,
  tenantId: TenantId,
  jobs: ClaimedJob[],
  contexts: (RunStepContext | undefined)[],
): Promise<ClaimedJob[]> {
  const wanted = jobs.flatMap((job, index) => {
    const ctx = contexts[index];
    if (job.itemIndex == null || job.loopItem !== undefined || !ctx) return [];
    const program = programOf(deps, ctx.versionId, ctx.definition);
    const item = itemPlanOf(program, job.stepIndex, job.itemIndex);
    return item ? [{ index, runId: job.runId, loopPc: item.loopPc, itemIndex: item.index }] : [];
  });
  if (wanted.length === 0) return jobs;
  const items = await selectLoopItems(db, { tenantId, items: wanted });
  const out = [...jobs];
  wanted.forEach((w, n) => {
    out[w.index] = { ...jobs[w.index]!, loopItem: items[n] ?? null };
  });
  return out;
}
