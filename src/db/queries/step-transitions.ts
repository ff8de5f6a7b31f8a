/**
 * Step transitions: the outcomes of many attempts of one tenant recorded in one statement (the
 * engine's group commit, src/engine/transitions.ts). Each item is guarded on its own by its
 * job's claim (`attempt` and `locked_by`): an item whose claim is stale writes nothing and is
 * answered `ok: false`, while the others are recorded.
 */
import type { Queryable } from '../pool.ts';
import type { RunId, StepRunId, TenantId } from '../../model/ids.ts';
import { JOBS_CHANNEL, relaxCommitIf, runChangesByCallerIf, type JobId } from './jobs.ts';
import type { LoopClaim } from './for-each-ends.ts';
import { loopOpBytes, type LoopOp } from './for-each.ts';
import { ACTION_ROW_JSON } from './step-context.ts';
import type { ActionRow } from './workflow-runs.ts';

export type StepErrorColumns = { code: string; message: string; retryable: boolean };

/** JSON text (already serialised: the worker bounds a batch by its bytes), or null for SQL NULL. */
export type JsonText = string | null;

export type StepTransition = {
  jobId: JobId;
  /** The claim's step and attempt: with the worker id, the guard of every write below. */
  stepIndex: number;
  attempt: number;
  runId: RunId;
  /**
   * advance: to the next step, the claim kept (attempt 1); requeue: back in the queue after
   * the delay, the attempt counted; unclaim: the same, the attempt not counted; wait: the job
   * `waiting` until `until` (uncounted; wakeDueWaits makes it pending then), the run
   * `waiting`; delete: the run is finished.
   */
  job:
    | { op: 'advance'; nextStepIndex: number }
    | { op: 'requeue' | 'unclaim'; delayMs: number }
    | { op: 'wait'; until: Date }
    | { op: 'delete' };
  /** The attempt's StepRun: its outcome, or removed (an attempt that did not happen). */
  stepRun:
    | {
        op: 'finish';
        id: StepRunId;
        status: 'succeeded' | 'failed' | 'skipped' | 'waiting';
        input: JsonText;
        output: JsonText;
        error: StepErrorColumns | null;
        /** A waiting step's deadline. */
        waitUntil?: Date | null;
        /** A switch's chosen branch. */
        branch?: string | null;
        /**
         * The StepRun's status this item expects (default `running`); `waiting`: a wait decided
         * by the engine — the item is refused when a resumer got there first.
         */
        expect?: 'running' | 'waiting';
      }
    | { op: 'delete'; id: StepRunId }
    | null;
  finishRun: { status: 'succeeded' | 'failed' | 'dead'; output: JsonText; error: JsonText } | null;
  /** `{ workflowId, failedStepId, error, context, retryCount }` of the run's dead letter. */
  deadLetter: JsonText;
  /** With `advance`: start the next step's first attempt now and load its action. */
  start: { stepId: string; actionId: string | null } | null;
  /** Wake the workers at commit (a job due now was put back in the queue). */
  notify: boolean;
  /** StepRuns recorded `skipped` (a switch's branches not taken): JSON `[[stepId, index]...]`. */
  skip?: JsonText;
  /** The run's `{{ error }}` from now on (a goto, the failure path; migration 0033). */
  errorContext?: JsonText;
  /** How the run ends once its failure path is done (migration 0033). */
  pendingEnd?: JsonText;
  /** The forEach item the job runs (migration 0031): its next attempt records it. */
  itemIndex?: number | null;
  /** A loop's start or an item's end, applied with this item (engine/for-each-items.ts). */
  loop?: LoopOp;
};

/** The bytes of JSON an item carries. */
export function transitionBytes(t: StepTransition): number {
  const f = t.stepRun?.op === 'finish' ? t.stepRun : null;
  return (
    (f?.input?.length ?? 0) +
    (f?.output?.length ?? 0) +
    (t.finishRun?.output?.length ?? 0) +
    (t.finishRun?.error?.length ?? 0) +
    (t.deadLetter?.length ?? 0) +
    (t.skip?.length ?? 0) +
    (t.pendingEnd?.length ?? 0) +
    loopOpBytes(t.loop)
  );
}

export type TransitionResult = {
  /** False: the claim was stale and nothing of this item was written. */
  ok: boolean;
  /** The output as stored (jsonb) when a succeeded step's run goes on with `start`. */
  output: unknown;
  /** The StepRun of the attempt started by `start`. */
  stepRunId: StepRunId | null;
  action: ActionRow | null;
  /** forEach: the next item's job, claimed for this worker by this item's end (0031). */
  loopClaim?: LoopClaim;
};

const finish = (t: StepTransition) => (t.stepRun?.op === 'finish' ? t.stepRun : null);

/** One array parameter per column; names, types and values listed together so they align. */
const COLUMNS: [name: string, type: string, value: (t: StepTransition, now: Date) => unknown][] = [
  ['job_id', 'bigint', (t) => t.jobId],
  ['step_index', 'int', (t) => t.stepIndex],
  ['attempt', 'int', (t) => t.attempt],
  ['run_id', 'uuid', (t) => t.runId],
  ['job_op', 'text', (t) => t.job.op],
  ['next_step_index', 'int', (t) => (t.job.op === 'advance' ? t.job.nextStepIndex : null)],
  [
    'run_at',
    'timestamptz',
    (t, now) =>
      'delayMs' in t.job
        ? new Date(now.getTime() + t.job.delayMs)
        : t.job.op === 'wait'
          ? t.job.until
          : null,
  ],
  ['step_run_id', 'uuid', (t) => t.stepRun?.id ?? null],
  ['step_op', 'text', (t) => t.stepRun?.op ?? null],
  ['step_status', 'text', (t) => finish(t)?.status ?? null],
  ['step_input', 'text', (t) => finish(t)?.input ?? null],
  ['step_output', 'text', (t) => finish(t)?.output ?? null],
  ['error_code', 'text', (t) => finish(t)?.error?.code ?? null],
  ['error_message', 'text', (t) => finish(t)?.error?.message ?? null],
  ['error_retryable', 'bool', (t) => finish(t)?.error?.retryable ?? null],
  ['run_status', 'text', (t) => t.finishRun?.status ?? null],
  ['run_output', 'text', (t) => t.finishRun?.output ?? null],
  ['run_error', 'text', (t) => t.finishRun?.error ?? null],
  ['dead_letter', 'text', (t) => t.deadLetter],
  ['next_step_id', 'text', (t) => t.start?.stepId ?? null],
  ['next_action_id', 'uuid', (t) => t.start?.actionId ?? null],
  ['notify', 'bool', (t) => t.notify],
  ['step_wait_until', 'timestamptz', (t) => finish(t)?.waitUntil ?? null],
  ['step_branch', 'text', (t) => finish(t)?.branch ?? null],
  ['step_expect', 'text', (t) => finish(t)?.expect ?? 'running'],
  ['skip_steps', 'text', (t) => t.skip ?? null],
  ['error_context', 'text', (t) => t.errorContext ?? null],
  ['pending_end', 'text', (t) => t.pendingEnd ?? null],
  ['item_index', 'int', (t) => t.itemIndex ?? null],
];
const FIRST_COLUMN_PARAM = 7;

/**
 * The first array is read through a scalar sub-select, whose value the planner cannot see: a
 * custom plan then estimates the items as a generic plan does (10 rows, not the batch's exact
 * size), so PostgreSQL settles on the cached generic plan instead of planning this statement
 * anew for every small batch (which cost more than executing it).
 */
const unnestArgs = COLUMNS.map(([, type], i) =>
  i === 0 ? `(select $${FIRST_COLUMN_PARAM}::${type}[])` : `$${i + FIRST_COLUMN_PARAM}::${type}[]`,
).join(', ');
const unnestNames = COLUMNS.map(([name]) => name).join(', ');

/**
 * The statement's writes, by name (each a CTE of its own). The optional ones are left out of the
 * statement of a batch that has no item for them: PostgreSQL initialises every part of a
 * statement at each call, used or not (the transition statement's start-up was the largest
 * share of its time, bench/RESULTS.md round twelve).
 */
const PART = {
  guarded: `       select j.id from jobs j join item i on j.id = i.job_id
        where j.tenant_id = $1
          and j.step_index = i.step_index and j.attempt = i.attempt and j.locked_by = $2
          and j.status = 'running'
          -- A wait decided by the engine (expect 'waiting') loses to a resumer that got there
          -- first: the StepRun is locked, so the two never both write it.
          and (i.step_expect = 'running' or i.step_run_id is null or exists (
                select 1 from step_runs s
                 where s.tenant_id = $1 and s.id = i.step_run_id and s.status = i.step_expect
                   for update))
        order by j.id
        for update of j`,
  moved: `       update jobs j
          set step_index = case when i.job_op = 'advance' then i.next_step_index
                                else j.step_index end,
              attempt = case i.job_op when 'advance' then 1 when 'unclaim' then j.attempt - 1
                                      when 'wait' then j.attempt - 1 else j.attempt end,
              status = case i.job_op when 'advance' then 'running' when 'wait' then 'waiting'
                                     else 'pending' end,
              locked_by = case when i.job_op = 'advance' then j.locked_by end,
              lease_expires_at = case when i.job_op = 'advance' then $4::timestamptz end,
              run_at = case when i.job_op = 'advance' then j.run_at else i.run_at end
         from item i
        where j.tenant_id = $1 and j.id = i.job_id
          and i.job_op <> 'delete' and j.id in (select id from guarded)
       returning j.id`,
  removed: `       delete from jobs j using item i
        where j.tenant_id = $1 and j.id = i.job_id
          and i.job_op = 'delete' and j.id in (select id from guarded)
       returning j.id`,
  finished: `       update step_runs s
          set status = d.step_status,
              input = case when s.status = 'waiting' then s.input else d.step_input::jsonb end,
              output = d.step_output::jsonb,
              error_code = d.error_code, error_message = d.error_message,
              error_retryable = d.error_retryable,
              finished_at = case when d.step_status = 'waiting' then null else $3::timestamptz end,
              wait_until = coalesce(d.step_wait_until, s.wait_until), branch = d.step_branch
         from done d
        where s.tenant_id = $1 and s.id = d.step_run_id
          and d.step_op = 'finish' and s.status = d.step_expect
       returning s.id, s.output`,
  skipped: `       insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status,
                              started_at, finished_at)
       select $1, d.run_id, k.v->>0, (k.v->>1)::int, 1, 'skipped', $3, $3
         from done d cross join lateral jsonb_array_elements(d.skip_steps::jsonb) k(v)
        where d.skip_steps is not null
       on conflict do nothing`,
  handled: `       update workflow_runs r
          set error_context = coalesce(d.error_context::jsonb, r.error_context),
              pending_end = coalesce(d.pending_end::jsonb, r.pending_end)
         from done d
        where r.tenant_id = $1 and r.id = d.run_id
          and (d.error_context is not null or d.pending_end is not null)
          and exists (select 1 from item where error_context is not null or pending_end is not null)`,
  waited: `       update workflow_runs r set status = 'waiting', started_at = coalesce(r.started_at, $3)
         from done d
        where r.tenant_id = $1 and r.id = d.run_id and d.job_op = 'wait'
          and (r.status in ('queued', 'running')) is true
          and exists (select 1 from item where job_op = 'wait')`,
  unrecorded: `       delete from step_runs s using done d
        where s.tenant_id = $1 and s.id = d.step_run_id
          and d.step_op = 'delete' and s.status = 'running'
          and exists (select 1 from item where step_op = 'delete')`,
  ended: `       update workflow_runs r
          set status = d.run_status, output = d.run_output::jsonb, error = d.run_error::jsonb,
              finished_at = $3, started_at = coalesce(r.started_at, $3)
         from done d
        where r.tenant_id = $1 and r.id = d.run_id
          and d.run_status is not null
          and (r.status in ('queued', 'running', 'waiting')) is true
          and exists (select 1 from item where run_status is not null)`,
  dead: `       insert into dead_letters (tenant_id, run_id, workflow_id, failed_step_id, error, context,
                                 retry_count, created_at)
       select $1, d.run_id, (l.v->>'workflowId')::uuid, l.v->>'failedStepId', l.v->'error',
              l.v->'context', (l.v->>'retryCount')::int, $3
         from done d cross join lateral (select d.dead_letter::jsonb as v) l
        where d.dead_letter is not null
       on conflict (tenant_id, run_id) do nothing`,
  started: `       insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, started_at,
                              item_index)
       select $1, d.run_id, d.next_step_id, d.next_step_index, 1, 'running', $3, d.item_index
         from done d where d.job_op = 'advance' and d.next_step_id is not null
       returning run_id, item_index, id`,
  running: `       update workflow_runs r set status = 'running', started_at = coalesce(r.started_at, $3)
         from started st
        where r.tenant_id = $1 and r.id = st.run_id
          and (r.status in ('queued', 'waiting')) is true
          and exists (select 1 from item where next_step_id is not null)`,
};

/** The optional writes, and the items that need each (as the write's own condition says). */
const OPTIONAL: [part: keyof typeof PART, needs: (t: StepTransition) => boolean][] = [
  ['moved', (t) => t.job.op !== 'delete'],
  ['removed', (t) => t.job.op === 'delete'],
  ['finished', (t) => t.stepRun?.op === 'finish'],
  ['skipped', (t) => (t.skip ?? null) !== null],
  ['handled', (t) => (t.errorContext ?? null) !== null || (t.pendingEnd ?? null) !== null],
  ['waited', (t) => t.job.op === 'wait'],
  ['unrecorded', (t) => t.stepRun?.op === 'delete'],
  ['ended', (t) => (t.finishRun ?? null) !== null],
  ['dead', (t) => (t.deadLetter ?? null) !== null],
  // `running` goes with it: it updates the runs of the steps `started` started.
  ['started', (t) => t.job.op === 'advance' && (t.start ?? null) !== null],
];

/** What the final select reads of a write that a statement leaves out: no rows. */
const NONE: Partial<Record<keyof typeof PART, string>> = {
  finished: 'select null::uuid as id, null::jsonb as output where false',
  started: 'select null::uuid as run_id, null::int as item_index, null::uuid as id where false',
};

const statements = new Map<string, { name: string; text: string }>();

/** The statement for a batch: its name (one prepared statement per shape) and text. */
function statementFor(items: StepTransition[]): { name: string; text: string } {
  const has = new Set(OPTIONAL.filter(([, needs]) => items.some(needs)).map(([part]) => part));
  const shape = OPTIONAL.map(([part]) => (has.has(part) ? '1' : '0')).join('');
  let statement = statements.get(shape);
  if (statement) return statement;
  const cte = (name: string, sql: string) => `${name} as (\n${sql}\n     )`;
  const part = (name: keyof typeof PART) =>
    has.has(name) ? cte(name, PART[name]) : NONE[name] ? cte(name, `       ${NONE[name]}`) : null;
  const moves =
    [
      has.has('moved') ? 'select id from moved' : null,
      has.has('removed') ? 'select id from removed' : null,
    ]
      .filter((x) => x !== null)
      .join(' union all ') || 'select null::bigint where false';
  const text = [
    cte(
      'item',
      `       select * from unnest(${unnestArgs}) with ordinality as i(${unnestNames}, ord)`,
    ),
    // Types for the parameters whose only readers may be left out.
    cte('params', '       select $3::timestamptz as now, $4::timestamptz as lease_until'),
    cte('guarded', PART.guarded),
    part('moved'),
    part('removed'),
    cte('done', `       select i.* from item i\n        where i.job_id in (${moves})`),
    part('finished'),
    part('skipped'),
    part('handled'),
    part('waited'),
    part('unrecorded'),
    part('ended'),
    part('dead'),
    part('started'),
    has.has('started') ? cte('running', PART.running) : null,
  ]
    .filter((x) => x !== null)
    .join(',\n     ');
  statement = {
    name: `sy_record_step_transitions_${shape}`,
    text: `with ${text}\n     select i.ord::int as ord, d.job_id is not null as ok,
            case when st.id is not null and i.step_status = 'succeeded' then f.output end as output,
            st.id as step_run_id,
            case when st.id is not null then
              (select ${ACTION_ROW_JSON} where a.tenant_id = $1 and a.id = i.next_action_id) x)
            end as action,
            -- One notification per transaction: PostgreSQL folds identical ones.
            case when d.notify then pg_notify('${JOBS_CHANNEL}', '') end as notified,
            ${relaxCommitIf('$5')} as relaxed,
            ${runChangesByCallerIf('$6')} as run_changes
       from item i
       left join done d on d.ord = i.ord
       left join finished f on f.id = i.step_run_id
       left join started st on st.run_id = i.run_id
        and coalesce(st.item_index, -1) = coalesce(i.item_index, -1)
      order by i.ord`,
  };
  statements.set(shape, statement);
  return statement;
}

/**
 * Records the items in the caller's transaction and answers each, in order. Per item, the jobs
 * row is written first, under its guard (rows locked in id order, as the lease renewal does, so
 * that the two never deadlock); the StepRun, the run, the dead letter and the next attempt are
 * written only for the items whose guard held. A dead letter is inserted at most once per run.
 *
 * Rows are found by primary key from the items; the writes no item of a batch needs (a run's
 * end, a removed StepRun, a queued run starting) are left out of its statement (statementFor).
 * A guard on a run's status
 * is written `(status …) is true`, which no index can serve: the statistics of a large table
 * can say for long that few runs are queued while a burst has queued thousands, and a plan
 * built on them would scan the status index, every queued run, for each batch. (The guard on
 * a job's status stays indexable: that scan is bounded by the tenant's running jobs.)
 */
export async function recordStepTransitions(
  db: Queryable,
  p: {
    tenantId: TenantId;
    workerId: string;
    now: Date;
    /** The lease of an advanced job (it keeps its claim for the next step). */
    leaseUntil: Date;
    /** Commit without waiting for the WAL flush (relaxCommitIf in jobs.ts). */
    relaxDurability: boolean;
    /**
     * The caller sends the run changes after the commit (migration 0016): the triggers stay
     * silent for this transaction.
     */
    runChangesByCaller?: boolean;
    items: StepTransition[];
  },
): Promise<TransitionResult[]> {
  const res = await db.query<{
    ord: number;
    ok: boolean;
    output: unknown;
    step_run_id: StepRunId | null;
    action: ActionRow | null;
  }>({
    ...statementFor(p.items),
    values: [
      p.tenantId,
      p.workerId,
      p.now,
      p.leaseUntil,
      p.relaxDurability,
      p.runChangesByCaller ?? false,
      ...COLUMNS.map(([, , value]) => p.items.map((t) => value(t, p.now))),
    ],
  });
  return res.rows.map((r) => ({
    ok: r.ok,
    output: r.output,
    stepRunId: r.step_run_id,
    action: r.action,
  }));
}
