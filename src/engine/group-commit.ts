/**
 * Group commit, for the run intake (intake.ts) and the worker's hot path (prepare.ts,
 * transitions.ts): work of one tenant that arrives while that tenant's transactions are in flight
 * waits, and the next transaction takes all of it. Each tenant has a lane with at most two
 * transactions open (one filling while one commits); what arrives in one turn of the event
 * loop (the steps a claim handed out, the slots that finished together) goes together, and a
 * lone item is not delayed beyond that turn. Under load one round trip, one WAL flush and one
 * wake-up serve many items.
 *
 * Every caller gets its own answer, after its transaction. When the batch transaction fails
 * with a statement error (which names no item), each item is retried alone so that only the
 * bad one fails; when the database is unreachable, all of them fail at once.
 */
import { isConnectionError } from '../db/pool.ts';
import type { TenantId } from '../model/ids.ts';

export type Answer<A> = { ok: true; value: A } | { ok: false; error: unknown };

export type GroupCommit<I, A> = {
  /** `size`: bytes the item adds to a batch (a batch stops growing past BATCH_MAX_BYTES). */
  submit(tenantId: TenantId, item: I, size?: number): Promise<A>;
  /** Resolves once every item submitted so far has its answer (for an orderly stop). */
  idle(): Promise<void>;
};

type Pending<I, A> = {
  item: I;
  size: number;
  resolve: (a: A) => void;
  reject: (e: unknown) => void;
};

type Lane<I, A> = { queue: Pending<I, A>[]; inFlight: number; scheduled: boolean };

/** Transactions one tenant's lane may have open at once. */
const LANE_IN_FLIGHT = 2;
/** A batch stops growing past this many bytes (a lone large item still goes). */
const BATCH_MAX_BYTES = 4 * 1024 * 1024;

export function createGroupCommit<I, A>(opts: {
  /**
   * One transaction for the items (all of one tenant); an answer per item, in order. It throws
   * only when nothing was committed: a throw makes the items retry alone.
   */
  commit: (tenantId: TenantId, items: I[]) => Promise<Answer<A>[]>;
  maxItems: number;
  /**
   * After a commit, wait for the rest of the turn before the next batch: for items whose
   * answer brings them straight back (a run's next step), which then join the waiting ones
   * instead of following them in a transaction of their own. Off, the next batch goes at once.
   */
  rejoin?: boolean;
  /**
   * Items with the same key never share a batch: the second waits for the next one (e.g. one
   * statement cannot claim an idempotency key twice). Null: no key.
   */
  conflictKey?: (item: I) => string | null;
}): GroupCommit<I, A> {
  const lanes = new Map<TenantId, Lane<I, A>>();
  let unanswered = 0;
  let idleWaiters: (() => void)[] = [];
  const answered = (): void => {
    if (--unanswered > 0) return;
    // After the callers' continuations (promise chains settle before the next macrotask).
    for (const w of idleWaiters) setImmediate(w);
    idleWaiters = [];
  };

  const settle = async (tenantId: TenantId, batch: Pending<I, A>[]): Promise<void> => {
    let answers: Answer<A>[];
    try {
      answers = await opts.commit(
        tenantId,
        batch.map((p) => p.item),
      );
    } catch (err) {
      if (batch.length === 1 || isConnectionError(err)) {
        for (const p of batch) p.reject(err);
        return;
      }
      await Promise.all(batch.map((p) => settle(tenantId, [p])));
      return;
    }
    batch.forEach((p, i) => {
      const a = answers[i];
      if (a?.ok) p.resolve(a.value);
      else p.reject(a ? a.error : new Error('group commit: no answer for an item'));
    });
  };

  const pump = (tenantId: TenantId, lane: Lane<I, A>): void => {
    lane.scheduled = false;
    while (lane.inFlight < LANE_IN_FLIGHT && lane.queue.length > 0) {
      const batch = takeBatch(lane, opts.maxItems, opts.conflictKey);
      lane.inFlight++;
      void settle(tenantId, batch).finally(() => {
        lane.inFlight--;
        if (opts.rejoin && (lane.queue.length > 0 || lane.scheduled)) schedule(tenantId, lane);
        else if (lane.queue.length > 0) pump(tenantId, lane);
        else if (lane.inFlight === 0 && !lane.scheduled) lanes.delete(tenantId);
      });
    }
    if (lane.inFlight === 0 && lanes.get(tenantId) === lane) lanes.delete(tenantId);
  };

  /** Pumps after the rest of this turn of the event loop: what arrives with it goes along. */
  const schedule = (tenantId: TenantId, lane: Lane<I, A>): void => {
    if (lane.scheduled) return;
    lane.scheduled = true;
    setImmediate(() => pump(tenantId, lane));
  };

  return {
    submit(tenantId, item, size = 0) {
      const answer = new Promise<A>((resolve, reject) => {
        let lane = lanes.get(tenantId);
        if (!lane) lanes.set(tenantId, (lane = { queue: [], inFlight: 0, scheduled: false }));
        lane.queue.push({ item, size, resolve, reject });
        if (lane.inFlight < LANE_IN_FLIGHT) schedule(tenantId, lane);
      });
      unanswered++;
      void answer.then(answered, answered);
      return answer;
    },
    idle() {
      if (unanswered === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}

/** The next batch in arrival order; an item whose key is already in it waits for the next. */
function takeBatch<I, A>(
  lane: Lane<I, A>,
  max: number,
  conflictKey: ((item: I) => string | null) | undefined,
): Pending<I, A>[] {
  const batch: Pending<I, A>[] = [];
  const rest: Pending<I, A>[] = [];
  const keys = new Set<string>();
  let bytes = 0;
  for (const p of lane.queue) {
    const full = batch.length >= max || (batch.length > 0 && bytes + p.size > BATCH_MAX_BYTES);
    const key = full ? null : (conflictKey?.(p.item) ?? null);
    if (full || (key !== null && keys.has(key))) rest.push(p);
    else {
      batch.push(p);
      bytes += p.size;
      if (key !== null) keys.add(key);
    }
  }
  lane.queue = rest;
  return batch;
}
