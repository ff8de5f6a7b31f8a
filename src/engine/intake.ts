/**
 * Run intake: starts that arrive together are committed together. Each tenant has a lane; while
 * a lane's transaction is in flight, new starts wait, and the next transaction takes all of
 * them (up to `startBatchMax`) in one statement. A lone start is not delayed (its batch is
 * itself), and under load one WAL flush and one wake-up serve many runs: the group commit of
 * the database, done one level up. Every caller still gets its own answer only after its run
 * is committed, and one bad item never costs the others their run (the batch is then retried
 * item by item). The lanes are the engine's group commit (group-commit.ts).
 */
import { randomUUID } from 'node:crypto';
import { isConnectionError, type Queryable } from '../db/pool.ts';
import { selectIdempotencyKey } from '../db/queries/idempotency-keys.ts';
import type { ClaimedJob } from '../db/queries/jobs.ts';
import {
  insertRunsBatch,
  type BatchRunItem,
  type IntakeClaim,
} from '../db/queries/workflow-runs-batch.ts';
import { tenantStatements, withTenant } from '../db/tenant.ts';
import { isSwitchyardError, SwitchyardError } from '../model/errors.ts';
import type { RunId, TenantId, WorkflowId } from '../model/ids.ts';
import { addMs, type EngineDeps } from './deps.ts';
import { createGroupCommit, type Answer } from './group-commit.ts';
import type { IntakeStart, KnownFirstStep } from './prepare.ts';
import { runChangeSenderOf, type RunChangeRow } from './run-changes.ts';
import {
  duplicateOf,
  idempotencyOf,
  validTraceparent,
  whyNotStartable,
  type StartRunInput,
  type StartRunResult,
} from './start-run.ts';

type Item = { input: StartRunInput; row: BatchRunItem; first: KnownFirstStep | null };

/** A job the intake claimed for the worker, and its first attempt if the intake started it. */
export type HandedJob = ClaimedJob & { start: IntakeStart | null };

export type RunIntake = {
  start(p: StartRunInput): Promise<StartRunResult>;
  /** Resolves once every start submitted so far has its answer (for an orderly stop). */
  idle(): Promise<void>;
  /** The worker of this process, which takes new runs straight from the intake (worker.ts). */
  handOffTo(worker: HandOff | null): void;
};

/**
 * A worker in the intake's process with free slots: the intake claims new runs' first jobs for
 * it in the statement that creates them, and hands them over once committed, instead of
 * queueing them for a claim (the claim's statement and its update of the job saved).
 */
export type HandOff = {
  readonly workerId: string;
  /** Slots held for a batch's runs (0: none now, e.g. the queue has a backlog to claim first). */
  reserve(max: number): number;
  /**
   * The jobs claimed with `reserved` slots (fewer, or none: the rest are free again), each
   * with its first attempt if the intake started it.
   */
  adopt(jobs: HandedJob[], reserved: number): void;
  /**
   * The first step of the workflow's version the worker last started a run of, if it is an
   * action step: the intake starts it with the run (the worker's preparation saved).
   */
  firstStart(workflowId: WorkflowId): KnownFirstStep | null;
};

export function createRunIntake(
  deps: Pick<EngineDeps, 'pool' | 'clock' | 'config' | 'logger'>,
): RunIntake {
  const notices = runChangeSenderOf(deps.pool, deps.logger);
  let worker: HandOff | null = null;
  const lanes = createGroupCommit<Item, StartRunResult>({
    maxItems: deps.config.startBatchMax,
    commit: async (tenantId, items) => {
      const now = deps.clock.now();
      const local = worker;
      const reserved = local?.reserve(items.length) ?? 0;
      if (local && reserved > 0)
        for (const item of items) {
          item.first = local.firstStart(item.row.workflowId);
          item.row.firstStart = item.first;
        }
      let batch: Awaited<ReturnType<typeof insertBatch>>;
      try {
        batch = await insertBatch(deps, now, tenantId, items, local ? { local, reserved } : null);
      } catch (err) {
        local?.adopt([], reserved);
        throw err;
      }
      const { created, claimed } = batch;
      // Committed: the worker runs its jobs now, whatever the refused items' reads meet.
      local?.adopt(handed(items, claimed, now), reserved);
      const answers = await answersFor(deps, now, tenantId, items, created);
      // Committed: the workers are woken and the views told, after the commit and not at it
      // (run-changes.ts: a notifying commit waits for the one before it to be flushed).
      const handedOver = new Set(claimed.map((j) => j.runId));
      const started = items.flatMap(({ row }): RunChangeRow[] =>
        created.has(row.runId)
          ? [[row.runId, row.workflowId, handedOver.has(row.runId) ? 'running' : 'queued']]
          : [],
      );
      if (started.length > 0) {
        // Runs handed to this process's worker need no wake-up: only those left in the queue.
        if (claimed.length < started.length) notices.wakeWorkers();
        notices.send(tenantId, started);
      }
      return answers;
    },
    // One statement cannot claim a key twice: a second start with the key waits for the next
    // batch, where it finds the key taken (a duplicate).
    conflictKey: ({ row }) =>
      row.idempotencyKey === null ? null : `${row.workflowId}:${row.idempotencyKey}`,
  });
  return {
    async start(p) {
      const { key, inputHash } = idempotencyOf(p);
      const row: BatchRunItem = {
        runId: randomUUID() as RunId,
        workflowId: p.workflowId,
        triggerId: p.triggerId ?? null,
        idempotencyKey: key,
        inputHash,
        inputJson: JSON.stringify(p.input ?? {}),
        traceContext: validTraceparent(p.traceparent),
        firstStart: null,
      };
      try {
        return await lanes.submit(p.tenantId, { input: p, row, first: null }, row.inputJson.length);
      } catch (err) {
        throw typed(err);
      }
    },
    idle: () => lanes.idle(),
    handOffTo(w) {
      worker = w;
    },
  };
}

/** The claimed jobs with what their worker needs of a first attempt the intake started. */
function handed(items: Item[], claimed: IntakeClaim[], now: Date): HandedJob[] {
  if (claimed.every((j) => j.started === null))
    return claimed.map(({ started: _, ...job }) => ({ ...job, start: null }));
  const byRun = new Map(items.map((i) => [i.row.runId, i]));
  return claimed.map(({ started, ...job }) => {
    const item = byRun.get(job.runId);
    return {
      ...job,
      start:
        started && item?.first
          ? {
              ...started,
              program: item.first.program,
              workflowId: item.row.workflowId,
              traceContext: item.row.traceContext,
              createdAt: now,
            }
          : null,
    };
  });
}

/** The batch's statement, its whole transaction: one round trip (tenantStatements). */
function insertBatch(
  deps: Pick<EngineDeps, 'pool' | 'config'>,
  now: Date,
  tenantId: TenantId,
  items: Item[],
  handOff: { local: HandOff; reserved: number } | null,
): Promise<{ created: Set<RunId>; claimed: IntakeClaim[] }> {
  return insertRunsBatch(
    tenantStatements(deps.pool, tenantId, {
      callerSendsRunChanges: true,
      genericPlans: true,
    }),
    {
      tenantId,
      now,
      keyExpiresAt: addMs(now, deps.config.idempotencyKeyTtlMs),
      items: items.map((i) => i.row),
      ...(handOff && handOff.reserved > 0
        ? {
            handOff: {
              workerId: handOff.local.workerId,
              count: handOff.reserved,
              leaseUntil: addMs(now, deps.config.leaseMs),
              tenantMaxConcurrency: deps.config.tenantMaxConcurrency,
            },
          }
        : {}),
    },
  );
}

/**
 * Each item's answer: its run, or why it got none (a key taken, a workflow that cannot start),
 * read once the batch is committed: what they read was there before it, and stays.
 */
async function answersFor(
  deps: Pick<EngineDeps, 'pool'>,
  now: Date,
  tenantId: TenantId,
  items: Item[],
  created: Set<RunId>,
): Promise<Answer<StartRunResult>[]> {
  const started = (item: Item): Answer<StartRunResult> => ({
    ok: true,
    value: { runId: item.row.runId, duplicate: false },
  });
  if (items.every((i) => created.has(i.row.runId))) return items.map(started);
  return withTenant(deps.pool, tenantId, async (db) => {
    const out: Answer<StartRunResult>[] = [];
    for (const item of items) {
      if (created.has(item.row.runId)) {
        out.push(started(item));
        continue;
      }
      try {
        out.push({ ok: true, value: await refused(db, now, item) });
      } catch (error) {
        out.push({ ok: false, error });
      }
    }
    return out;
  });
}

/** Why an item got no run: its live key names an earlier run, or its workflow cannot start. */
async function refused(db: Queryable, now: Date, item: Item): Promise<StartRunResult> {
  const { idempotencyKey: key, inputHash, workflowId } = item.row;
  if (key !== null && inputHash !== null) {
    const existing = await selectIdempotencyKey(db, {
      tenantId: item.input.tenantId,
      workflowId,
      key,
    });
    if (existing && existing.expiresAt > now) return duplicateOf(existing, key, inputHash);
  }
  throw await whyNotStartable(db, item.input);
}

/**
 * Typed errors for what a caller can act on: the database (or the way to it) failed, retry
 * later; the input holds a value PostgreSQL cannot store (class 22, e.g. a \u0000 in JSON).
 */
function typed(err: unknown): unknown {
  if (isSwitchyardError(err)) return err;
  if (isConnectionError(err)) {
    return new SwitchyardError(
      'E_DB_UNREACHABLE',
      'The database is not reachable; nothing was stored. Retry later.',
      { retryAfterMs: 5_000 },
      err,
    );
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('22')) {
    return new SwitchyardError(
      'E_VALIDATION',
      `The run input cannot be stored: ${(err as Error).message}. Remove the value (for example a \\u0000 character) and send it again.`,
      { field: 'input' },
      err,
    );
  }
  return err;
}
