/**
 * Run intake: starts that arrive together are committed together. Each tenant has a lane; while
 * a lane's transaction is in flight, new starts wait, and the next transaction takes all of
 * them (up to `startBatchMax`) in one statement. A lone start is not delayed (its batch is
 * itself), and under load one WAL flush and one wake-up serve many runs: the group commit of
 * the database, done one level up. Every caller still gets its own answer only after its run
 * is committed, and one bad item never costs the others their run (the batch is then retried
 * item by item).
 */
import { randomUUID } from 'node:crypto';
import { isConnectionError, type Queryable } from '../db/pool.ts';
import { selectIdempotencyKey } from '../db/queries/idempotency-keys.ts';
import { insertRunsBatch, type BatchRunItem } from '../db/queries/workflow-runs-batch.ts';
import { withTenant } from '../db/tenant.ts';
import { isSwitchyardError, SwitchyardError } from '../model/errors.ts';
import type { RunId, TenantId } from '../model/ids.ts';
import { addMs, type EngineDeps } from './deps.ts';
import {
  duplicateOf,
  idempotencyOf,
  startRunInTransaction,
  validTraceparent,
  whyNotStartable,
  type StartRunInput,
  type StartRunResult,
} from './start-run.ts';

type Pending = {
  input: StartRunInput;
  item: BatchRunItem;
  resolve: (r: StartRunResult) => void;
  reject: (e: unknown) => void;
};

type Lane = { queue: Pending[]; inFlight: number };

/** Transactions one tenant's lane may have open at once (one filling while one commits). */
const LANE_IN_FLIGHT = 2;
/** A batch stops growing past this many bytes of input (a lone large input still goes). */
const BATCH_MAX_BYTES = 4 * 1024 * 1024;

export type RunIntake = { start(p: StartRunInput): Promise<StartRunResult> };

export function createRunIntake(deps: Pick<EngineDeps, 'pool' | 'clock' | 'config'>): RunIntake {
  const lanes = new Map<TenantId, Lane>();
  const batchMax = deps.config.startBatchMax;

  const pump = (tenantId: TenantId, lane: Lane): void => {
    while (lane.inFlight < LANE_IN_FLIGHT && lane.queue.length > 0) {
      const batch = takeBatch(lane, batchMax);
      lane.inFlight++;
      void commit(deps, tenantId, batch).finally(() => {
        lane.inFlight--;
        if (lane.queue.length > 0) pump(tenantId, lane);
        else if (lane.inFlight === 0) lanes.delete(tenantId);
      });
    }
  };

  return {
    start(p) {
      const { key, inputHash } = idempotencyOf(p);
      const item: BatchRunItem = {
        runId: randomUUID() as RunId,
        workflowId: p.workflowId,
        triggerId: p.triggerId ?? null,
        idempotencyKey: key,
        inputHash,
        inputJson: JSON.stringify(p.input ?? {}),
        traceContext: validTraceparent(p.traceparent),
      };
      return new Promise<StartRunResult>((resolve, reject) => {
        let lane = lanes.get(p.tenantId);
        if (!lane) lanes.set(p.tenantId, (lane = { queue: [], inFlight: 0 }));
        lane.queue.push({ input: p, item, resolve, reject });
        pump(p.tenantId, lane);
      });
    },
  };
}

/**
 * The next batch in arrival order. A second start with a key already in the batch waits for
 * the next one (one statement cannot claim a key twice), where it finds the key taken.
 */
function takeBatch(lane: Lane, max: number): Pending[] {
  const batch: Pending[] = [];
  const rest: Pending[] = [];
  const keys = new Set<string>();
  let bytes = 0;
  for (const p of lane.queue) {
    const k =
      p.item.idempotencyKey === null ? null : `${p.item.workflowId}:${p.item.idempotencyKey}`;
    const full =
      batch.length >= max ||
      (batch.length > 0 && bytes + p.item.inputJson.length > BATCH_MAX_BYTES);
    if (full || (k !== null && keys.has(k))) rest.push(p);
    else {
      batch.push(p);
      bytes += p.item.inputJson.length;
      if (k !== null) keys.add(k);
    }
  }
  lane.queue = rest;
  return batch;
}

async function commit(
  deps: Pick<EngineDeps, 'pool' | 'clock' | 'config'>,
  tenantId: TenantId,
  batch: Pending[],
): Promise<void> {
  let answers: Answer[];
  try {
    answers = await withTenant(deps.pool, tenantId, (db) => startBatch(db, deps, tenantId, batch));
  } catch (err) {
    if (batch.length === 1 || isConnectionError(err)) {
      for (const p of batch) p.reject(typed(err));
      return;
    }
    // A statement error (e.g. a body PostgreSQL cannot store) names no item: retry each alone,
    // so that only the bad one fails.
    await Promise.all(
      batch.map((p) =>
        withTenant(deps.pool, tenantId, (db) => startRunInTransaction(db, deps, p.input)).then(
          p.resolve,
          (e: unknown) => p.reject(typed(e)),
        ),
      ),
    );
    return;
  }
  batch.forEach((p, i) => {
    const a = answers[i]!;
    if (a.ok) p.resolve(a.result);
    else p.reject(a.error);
  });
}

type Answer = { ok: true; result: StartRunResult } | { ok: false; error: unknown };

async function startBatch(
  db: Queryable,
  deps: Pick<EngineDeps, 'clock' | 'config'>,
  tenantId: TenantId,
  batch: Pending[],
): Promise<Answer[]> {
  const now = deps.clock.now();
  const created = await insertRunsBatch(db, {
    tenantId,
    now,
    keyExpiresAt: addMs(now, deps.config.idempotencyKeyTtlMs),
    items: batch.map((p) => p.item),
  });
  const answers: Answer[] = [];
  for (const p of batch) {
    if (created.has(p.item.runId)) {
      answers.push({ ok: true, result: { runId: p.item.runId, duplicate: false } });
      continue;
    }
    try {
      answers.push({ ok: true, result: await refused(db, now, p) });
    } catch (error) {
      answers.push({ ok: false, error });
    }
  }
  return answers;
}

/** Why an item got no run: its live key names an earlier run, or its workflow cannot start. */
async function refused(db: Queryable, now: Date, p: Pending): Promise<StartRunResult> {
  const { idempotencyKey: key, inputHash } = p.item;
  if (key !== null && inputHash !== null) {
    const existing = await selectIdempotencyKey(db, {
      tenantId: p.input.tenantId,
      workflowId: p.item.workflowId,
      key,
    });
    if (existing && existing.expiresAt > now) return duplicateOf(existing, key, inputHash);
  }
  throw await whyNotStartable(db, p.input);
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
