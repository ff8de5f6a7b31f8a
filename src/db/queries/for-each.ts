/**
 * forEach loops (migration 0031): a loop's list in chunks, its counters, one result row per
 * item, and the item jobs. The main job of the run waits at the forEach pc while the items run
 * as jobs of their own (`jobs.item_index`); an item ending spawns the next one, the last one
 * wakes the main job, which collects the results in item order (src/engine/control/for-each.ts).
 *
 * Every write is made in the transaction that records the item's last transition, after the
 * item job's guarded delete succeeded: a lost worker's late writes never reach these tables,
 * and the results' key makes an item count once.
 */
import type { Queryable } from '../pool.ts';
import type { RunId, TenantId } from '../../model/ids.ts';
import type { EndedItem } from './for-each-ends.ts';
import { JOBS_CHANNEL } from './jobs.ts';

/**
 * Items per row of for_each_chunks: a row of a few hundred KB at most for ordinary items, and
 * 10,000 items in 40 rows. An item job reads its item from one chunk.
 */
export const FOR_EACH_CHUNK_SIZE = 250;

/** The JSON text of each chunk of the list (the caller serialises: it bounds the bytes). */
export function chunkItems(items: readonly unknown[], size = FOR_EACH_CHUNK_SIZE): string[] {
  const out: string[] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(JSON.stringify(items.slice(i, i + size).map((v) => (v === undefined ? null : v))));
  return out;
}

/**
 * Starts a loop: its counters, its list and the jobs of its first `concurrency` items (at the
 * body's first pc, due now, the workers woken at commit). Does nothing when the loop exists
 * already (a worker lost after starting it): answers whether this call started it.
 */
export async function startForEachLoop(
  db: Queryable,
  p: {
    tenantId: TenantId;
    runId: RunId;
    loopPc: number;
    bodyPc: number;
    itemCount: number;
    concurrency: number;
    chunkSize: number;
    /** chunkItems(list, chunkSize). */
    chunks: string[];
    now: Date;
  },
): Promise<boolean> {
  const res = await db.query<{ started: boolean }>({
    name: 'sy_start_for_each_loop',
    text: `with loop as (
       insert into for_each_loops (tenant_id, run_id, loop_pc, item_count, chunk_size, spawned,
                                   created_at)
       values ($1, $2, $3::int, $5::int, $7::int, least($5::int, $6::int), $9::timestamptz)
       on conflict do nothing
       returning tenant_id, run_id, loop_pc, spawned
     ),
     chunk as (
       insert into for_each_chunks (tenant_id, run_id, loop_pc, chunk_index, items)
       select l.tenant_id, l.run_id, l.loop_pc, c.ord - 1, c.items::jsonb
         from loop l cross join unnest($8::text[]) with ordinality as c(items, ord)
     ),
     job as (
       insert into jobs (tenant_id, run_id, step_index, item_index, run_at, created_at)
       select l.tenant_id, l.run_id, $4::int, g.i, $9::timestamptz, $9::timestamptz
         from loop l cross join generate_series(0, l.spawned - 1) as g(i)
       returning 1
     )
     select exists (select 1 from loop) as started,
            case when exists (select 1 from job) then pg_notify('${JOBS_CHANNEL}', '') end as n`,
    values: [
      p.tenantId,
      p.runId,
      p.loopPc,
      p.bodyPc,
      p.itemCount,
      p.concurrency,
      p.chunkSize,
      p.chunks,
      p.now,
    ],
  });
  return res.rows[0]?.started ?? false;
}

/**
 * `{{ loop.item }}` of item jobs, in the items' order: each read from its chunk (null when the
 * loop is gone). Their outputs come with the step context (step-context.ts: the main path's
 * and the item's own, never another item's).
 */
export async function selectLoopItems(
  db: Queryable,
  p: { tenantId: TenantId; items: { runId: RunId; loopPc: number; itemIndex: number }[] },
): Promise<unknown[]> {
  const res = await db.query<{ ord: number; item: unknown }>({
    name: 'sy_select_loop_items',
    text: `select i.ord::int as ord,
            (select c.items -> (i.item_index % l.chunk_size)
               from for_each_loops l
               join for_each_chunks c on c.tenant_id = l.tenant_id and c.run_id = l.run_id
                and c.loop_pc = l.loop_pc and c.chunk_index = i.item_index / l.chunk_size
              where l.tenant_id = $1 and l.run_id = i.run_id and l.loop_pc = i.loop_pc) as item
       from unnest($2::uuid[], $3::int[], $4::int[]) with ordinality as i(run_id, loop_pc, item_index, ord)
      order by i.ord`,
    values: [
      p.tenantId,
      p.items.map((i) => i.runId),
      p.items.map((i) => i.loopPc),
      p.items.map((i) => i.itemIndex),
    ],
  });
  return res.rows.map((r) => r.item);
}

export type LoopState = {
  itemCount: number;
  finished: number;
  /** The item that failed the loop (onItemError "fail"), or null. */
  failedItem: number | null;
  /** The failing item's result (`{ "error": { code, message } }`) when failedItem is set. */
  failure: unknown;
};

/** The loop's counters, or null when it has not started (one row by key). */
export async function selectForEachLoop(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId; loopPc: number },
): Promise<LoopState | null> {
  const res = await db.query<{
    item_count: number;
    finished: number;
    failed_item: number | null;
    failure: unknown;
  }>({
    name: 'sy_select_for_each_loop',
    text: `select l.item_count, l.finished, l.failed_item,
            (select r.result from for_each_results r
              where r.tenant_id = l.tenant_id and r.run_id = l.run_id and r.loop_pc = l.loop_pc
                and r.item_index = l.failed_item) as failure
       from for_each_loops l
      where l.tenant_id = $1 and l.run_id = $2 and l.loop_pc = $3`,
    values: [p.tenantId, p.runId, p.loopPc],
  });
  const r = res.rows[0];
  return r
    ? {
        itemCount: r.item_count,
        finished: r.finished,
        failedItem: r.failed_item,
        failure: r.failure,
      }
    : null;
}

/**
 * The loop's output: every item's result in item order, as JSON text (aggregated by
 * PostgreSQL: 10,000 results are never parsed into objects on the way to the StepRun).
 */
export async function collectForEachResults(
  db: Queryable,
  p: { tenantId: TenantId; runId: RunId; loopPc: number },
): Promise<string> {
  const res = await db.query<{ output: string }>({
    name: 'sy_collect_for_each_results',
    text: `select coalesce(jsonb_agg(coalesce(result, 'null'::jsonb) order by item_index), '[]')::text
              as output
       from for_each_results where tenant_id = $1 and run_id = $2 and loop_pc = $3`,
    values: [p.tenantId, p.runId, p.loopPc],
  });
  return res.rows[0]!.output;
}

/**
 * What a step transition does to a loop (step-transitions.ts `loop`), applied in the
 * transaction that records it, once its guard held (src/engine/for-each-items.ts).
 */
export type LoopOp =
  | {
      op: 'start';
      loopPc: number;
      bodyPc: number;
      itemCount: number;
      concurrency: number;
      chunkSize: number;
      chunks: string[];
    }
  | {
      op: 'end';
      item: Omit<EndedItem, 'runId'>;
      /** The pc after the loop's body: the item jobs of `[bodyPc, endPc)` are the loop's. */
      endPc: number;
      /** The slot cannot go on (its worker stops): the next item is queued, not claimed. */
      queueNext?: boolean;
    };

/** The bytes of JSON a loop op carries (the worker bounds a batch by its bytes). */
export function loopOpBytes(op: LoopOp | undefined): number {
  if (!op) return 0;
  if (op.op === 'start') return op.chunks.reduce((n, c) => n + c.length, 0);
  return op.item.result?.length ?? 0;
}
