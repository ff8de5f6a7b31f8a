/**
 * forEach item ends (migration 0031; the loop's other statements: for-each.ts): an ended
 * item's result, the loop's counters, the next items' jobs — claimed for the worker whose item
 * ended, their first step started — and the loop's job woken when it is over; and, when an
 * item fails its loop, the items still in flight stopped.
 */
import type { Queryable } from '../pool.ts';
import type { RunId, StepRunId, TenantId } from '../../model/ids.ts';
import { CANCEL_CHANNEL, JOBS_CHANNEL, type ClaimedJob } from './jobs.ts';
import { ACTION_ROW_JSON } from './step-context.ts';
import type { ActionRow } from './workflow-runs.ts';

export type EndedItem = {
  runId: RunId;
  loopPc: number;
  /** The body's first pc: where a spawned item starts. */
  bodyPc: number;
  /** The body's first step: its id and action (null: a control step), started for a claim. */
  bodyStepId: string;
  bodyActionId: string | null;
  itemIndex: number;
  failed: boolean;
  /** JSON text of the item's result (its last step's output, or `{ "error": … }`). */
  result: string | null;
  /** onItemError "fail" and the item failed: nothing more is spawned, the loop is woken. */
  failsLoop: boolean;
};

/** A spawned item claimed for a worker, its first body step started (its StepRun). */
export type LoopClaim = {
  job: ClaimedJob;
  stepRunId: StepRunId | null;
  action: ActionRow | null;
};

export type EndedLoop = {
  runId: RunId;
  loopPc: number;
  /** The loop is over (every item ended, or an item failed it): its main job was woken. */
  woken: boolean;
  /**
   * The jobs of the items spawned by this call. Claimed by `claim.workerId` when given, with
   * their first body step started: its StepRun, the item and the step's action (null: none).
   */
  spawned: {
    jobId: number;
    stepIndex: number;
    itemIndex: number;
    stepRunId: StepRunId | null;
    item: unknown;
    action: ActionRow | null;
  }[];
};

/**
 * Records ended items (their jobs already deleted under their guard, in this transaction) in
 * one statement: each result once (a repeat changes nothing), the loop's counters, a job for
 * each next item (as many as ended, while the list lasts and no item failed the loop), and
 * the main job and its waiting StepRun due now when the loop is over. Loop rows are locked in key order (batches of
 * several loops never deadlock); the workers are woken at commit.
 */
export async function endForEachItems(
  db: Queryable,
  p: {
    tenantId: TenantId;
    now: Date;
    items: EndedItem[];
    /**
     * The spawned items' jobs are claimed for this worker (attempt 1, leased), which goes on
     * with them in the slots their ended items leave; without it they are queued, due now.
     */
    claim?: { workerId: string; leaseUntil: Date } | null;
  },
): Promise<EndedLoop[]> {
  const res = await db.query<{
    run_id: RunId;
    loop_pc: number;
    woken: boolean;
    spawned: (Omit<EndedLoop['spawned'][number], 'action'> & { started: boolean })[] | null;
    action: ActionRow | null;
  }>({
    name: 'sy_end_for_each_items',
    text: `with item as (
       select * from unnest($3::uuid[], $4::int[], $5::int[], $6::int[], $7::bool[], $8::text[],
                            $9::bool[], $12::text[], $13::uuid[])
         as i(run_id, loop_pc, body_pc, item_index, failed, result, fails_loop, body_step_id,
              body_action_id)
     ),
     recorded as (
       insert into for_each_results (tenant_id, run_id, loop_pc, item_index, failed, result)
       select $1, run_id, loop_pc, item_index, failed, result::jsonb from item
       on conflict do nothing
       returning run_id, loop_pc, item_index
     ),
     per_loop as (
       select r.run_id, r.loop_pc, count(*)::int as n, min(i.body_pc) as body_pc,
              min(i.body_step_id) as body_step_id,
              (array_agg(i.body_action_id))[1] as body_action_id,
              min(r.item_index) filter (where i.fails_loop) as failed_item
         from recorded r join item i using (run_id, loop_pc, item_index)
        group by r.run_id, r.loop_pc
     ),
     -- Locked first (FOR UPDATE answers the row as the last commit left it): its spawned is
     -- the value before this statement's update (RETURNING old.* needs PostgreSQL 18).
     locked as (
       select l.run_id, l.loop_pc, l.spawned as spawned_from
         from for_each_loops l join per_loop pl using (run_id, loop_pc)
        where l.tenant_id = $1
        order by l.run_id, l.loop_pc
        for update of l
     ),
     counted as (
       update for_each_loops l
          set finished = l.finished + pl.n,
              failed_item = coalesce(l.failed_item, pl.failed_item),
              spawned = case when l.failed_item is null and pl.failed_item is null
                             then least(l.item_count, l.spawned + pl.n) else l.spawned end
         from per_loop pl, locked lk
        where l.tenant_id = $1 and l.run_id = pl.run_id and l.loop_pc = pl.loop_pc
          and lk.run_id = l.run_id and lk.loop_pc = l.loop_pc
       returning l.run_id, l.loop_pc, pl.body_pc, pl.body_step_id, pl.body_action_id,
                 l.chunk_size, lk.spawned_from,
                 l.spawned as spawned_to,
                 (l.finished >= l.item_count or l.failed_item is not null) as over
     ),
     spawn as (
       insert into jobs (tenant_id, run_id, step_index, item_index, run_at, created_at, status,
                         attempt, locked_by, lease_expires_at)
       select $1, c.run_id, c.body_pc, g.i, $2, $2,
              case when $10::text is null then 'pending' else 'running' end,
              case when $10::text is null then 0 else 1 end, $10::text, $11::timestamptz
         from counted c cross join generate_series(c.spawned_from, c.spawned_to - 1) as g(i)
       returning id, run_id, step_index, item_index
     ),
     -- Claimed: the spawned item's first body step starts now (as a step transition's next).
     started as (
       insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, started_at,
                              item_index)
       select $1, s.run_id, c.body_step_id, s.step_index, 1, 'running', $2, s.item_index
         from spawn s join counted c on c.run_id = s.run_id and c.body_pc = s.step_index
        where $10::text is not null
       returning run_id, item_index, id
     ),
     -- As a resumer does (migration 0033): the waiting job becomes pending, due now.
     wake as (
       update jobs j set run_at = $2, status = 'pending'
         from counted c
        where c.over and j.tenant_id = $1 and j.run_id = c.run_id and j.step_index = c.loop_pc
          and j.item_index is null and j.status in ('waiting', 'pending')
       returning j.run_id
     ),
     -- The loop's StepRun waits until this deadline (control/index.ts): due now, the claim
     -- that follows decides the loop (control/for-each.ts) instead of waiting again.
     due as (
       update step_runs s set wait_until = $2
         from counted c
        where c.over and s.tenant_id = $1 and s.run_id = c.run_id
          and coalesce(s.item_index, -1) = -1 and s.step_index = c.loop_pc
          and s.status = 'waiting'
     )
     select c.run_id, c.loop_pc, c.over as woken,
            (select jsonb_agg(jsonb_build_object('jobId', s.id, 'stepIndex', s.step_index,
                      'itemIndex', s.item_index, 'stepRunId', st.id,
                      'item', case when st.id is not null then (
                        select ch.items -> (s.item_index % c.chunk_size) from for_each_chunks ch
                         where ch.tenant_id = $1 and ch.run_id = s.run_id
                           and ch.loop_pc = c.loop_pc
                           and ch.chunk_index = s.item_index / c.chunk_size) end,
                      'started', st.id is not null)
                    order by s.item_index)
               from spawn s
               left join started st on st.run_id = s.run_id and st.item_index = s.item_index
              where s.run_id = c.run_id) as spawned,
            -- The body's first action, once per loop (the same for every item it starts).
            case when $10::text is not null then (
              select ${ACTION_ROW_JSON} where a.tenant_id = $1 and a.id = c.body_action_id) x)
            end as action,
            case when ($10::text is null and exists (select 1 from spawn))
                   or exists (select 1 from wake)
                 then pg_notify('${JOBS_CHANNEL}', '') end as n
       from counted c`,
    values: [
      p.tenantId,
      p.now,
      p.items.map((i) => i.runId),
      p.items.map((i) => i.loopPc),
      p.items.map((i) => i.bodyPc),
      p.items.map((i) => i.itemIndex),
      p.items.map((i) => i.failed),
      p.items.map((i) => i.result),
      p.items.map((i) => i.failsLoop),
      p.claim?.workerId ?? null,
      p.claim?.leaseUntil ?? null,
      p.items.map((i) => i.bodyStepId),
      p.items.map((i) => i.bodyActionId),
    ],
  });
  return res.rows.map((r) => ({
    runId: r.run_id,
    loopPc: r.loop_pc,
    woken: r.woken,
    spawned: (r.spawned ?? []).map(({ started, ...s }) => ({
      ...s,
      action: started ? r.action : null,
    })),
  }));
}

/**
 * onItemError "fail": the items still in flight of the loops an item failed stop, in one
 * statement: their jobs are deleted (a queued item never starts), their running attempts are
 * marked canceled, and the workers holding them are told at commit (as a run's cancel does).
 * An item job belongs to the loop whose body holds its pc: `[bodyPc, endPc)`.
 */
export async function stopForEachItems(
  db: Queryable,
  p: { tenantId: TenantId; now: Date; loops: { runId: RunId; bodyPc: number; endPc: number }[] },
): Promise<number> {
  const res = await db.query<{ stopped: number }>({
    name: 'sy_stop_for_each_items',
    text: `with loop as (
       select * from unnest($3::uuid[], $4::int[], $5::int[]) as l(run_id, body_pc, end_pc)
     ),
     j as (
       delete from jobs using loop l
        where jobs.tenant_id = $1 and jobs.run_id = l.run_id and jobs.item_index is not null
          and jobs.step_index >= l.body_pc and jobs.step_index < l.end_pc
       returning jobs.id, jobs.locked_by
     ),
     s as (
       update step_runs set status = 'canceled', finished_at = $2,
              error_code = 'E_RUN_CANCELED',
              error_message = 'Another item of the loop failed (onItemError "fail").',
              error_retryable = false
         from loop l
        where step_runs.tenant_id = $1 and step_runs.run_id = l.run_id
          and step_runs.item_index is not null and step_runs.status = 'running'
          and step_runs.step_index >= l.body_pc and step_runs.step_index < l.end_pc
       returning 1
     ),
     n as (
       select pg_notify('${CANCEL_CHANNEL}', j.id::text) from j where j.locked_by is not null
     )
     select (select count(*) from j)::int as stopped, (select count(*) from n) as notified,
            (select count(*) from s) as steps`,
    values: [
      p.tenantId,
      p.now,
      p.loops.map((l) => l.runId),
      p.loops.map((l) => l.bodyPc),
      p.loops.map((l) => l.endPc),
    ],
  });
  return res.rows[0]?.stopped ?? 0;
}
