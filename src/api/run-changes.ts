/**
 * Live run changes for GraphQL subscriptions. PostgreSQL sends one `sy_run_changes`
 * notification per tenant per statement that starts runs or changes their status (migration
 * 0012); this process holds ONE LISTEN connection for them and fans each out, in memory, to the
 * open subscriptions of that tenant only. Open tabs cost a subscriber each, not a query each.
 *
 * A notification sent while the LISTEN connection is down is lost (it is re-opened with
 * backoff). So when it is back, every open subscription is ended: each client opens its stream
 * again and refetches what it shows (the web app does on every open, web/app/graphql/
 * subscribe.ts), which covers what changed while nobody listened.
 */
import { listenForWakeups, type Wakeups } from '../engine/wakeups.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { RunId, TenantId, WorkflowId } from '../model/ids.ts';
import type { Logger } from '../observability/logger.ts';

export const RUN_CHANGES_CHANNEL = 'sy_run_changes';

export type RunChange = { runId: RunId; workflowId: WorkflowId; status: string };

export type RunChangeFilter = { workflowId: WorkflowId | null; runId: RunId | null };

/**
 * Changes a subscriber may fall behind by before the oldest are dropped: a client that stops
 * reading must not grow this process's memory; it refetches what it shows on the next event.
 */
const MAX_QUEUED_CHANGES = 500;

/**
 * How long one subscription stays open. Its caller was authenticated when it opened: a session
 * that ends or a member removed meanwhile would otherwise keep receiving changes for as long as
 * the tab stays open. Ended streams are reopened by the client, authenticated again.
 */
export const SUBSCRIPTION_MAX_AGE_MS = 10 * 60_000;

export type RunChangeHub = {
  /** Throws E_TOO_MANY_SUBSCRIPTIONS past the cap; the iterator's return() unsubscribes. */
  subscribe(tenantId: TenantId, filter: RunChangeFilter): AsyncIterableIterator<RunChange>;
  /** Open subscriptions in this process. */
  size(): number;
  /** Ends every open subscription (their streams complete), e.g. before the server closes. */
  endAll(): void;
  close(): Promise<void>;
  /** Delivers a notification's payload (the LISTEN connection calls it; tests may too). */
  deliver(payload: string): void;
};

type Subscriber = {
  filter: RunChangeFilter;
  push(change: RunChange): void;
  end(): void;
};

export function createRunChangeHub(opts: {
  /** The runtime role's session URL (DATABASE_LISTEN_URL behind a transaction pooler). */
  listenUrl: string | undefined;
  maxSubscriptions: number;
  logger: Logger;
  maxAgeMs?: number;
}): RunChangeHub {
  const byTenant = new Map<string, Set<Subscriber>>();
  let count = 0;
  let listener: Wakeups | null = null;

  const deliver = (payload: string) => {
    const parsed = parsePayload(payload);
    if (!parsed) {
      opts.logger.warn({ bytes: payload.length }, 'ignored a malformed run-change notification');
      return;
    }
    const subs = byTenant.get(parsed.tenantId);
    if (!subs) return;
    for (const change of parsed.changes) {
      for (const s of subs) {
        if (s.filter.runId && s.filter.runId !== change.runId) continue;
        if (s.filter.workflowId && s.filter.workflowId !== change.workflowId) continue;
        s.push(change);
      }
    }
  };

  // The connection opens with the first subscriber, so a process nobody watches holds none.
  const ensureListening = () => {
    if (listener || !opts.listenUrl) return;
    listener = listenForWakeups({
      connectionString: opts.listenUrl,
      channels: [RUN_CHANGES_CHANNEL],
      logger: opts.logger,
      onNotify: (_channel, payload) => deliver(payload),
      onReconnect: () => {
        opts.logger.info(
          { subscriptions: count },
          'LISTEN for run changes is back: ending open subscriptions so that their clients refetch',
        );
        endAll();
      },
    });
  };

  const subscribe = (
    tenantId: TenantId,
    filter: RunChangeFilter,
  ): AsyncIterableIterator<RunChange> => {
    if (count >= opts.maxSubscriptions) {
      throw new SwitchyardError(
        'E_TOO_MANY_SUBSCRIPTIONS',
        `This API process serves ${opts.maxSubscriptions} subscriptions already (API_SUBSCRIPTIONS_MAX); retry later.`,
        { retryAfterMs: 5_000 },
      );
    }
    ensureListening();
    const queue: RunChange[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    const sub: Subscriber = {
      filter,
      push(change) {
        if (queue.length >= MAX_QUEUED_CHANGES) queue.shift();
        queue.push(change);
        wake?.();
      },
      end: () => void finish(),
    };
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(expiry);
      count--;
      const subs = byTenant.get(tenantId);
      subs?.delete(sub);
      if (subs?.size === 0) byTenant.delete(tenantId);
      wake?.();
    };
    const expiry = setTimeout(finish, opts.maxAgeMs ?? SUBSCRIPTION_MAX_AGE_MS);
    expiry.unref();
    count++;
    let subs = byTenant.get(tenantId);
    if (!subs) byTenant.set(tenantId, (subs = new Set()));
    subs.add(sub);
    const iterator: AsyncIterableIterator<RunChange> = {
      [Symbol.asyncIterator]: () => iterator,
      async next() {
        for (;;) {
          const change = queue.shift();
          if (change) return { value: change, done: false };
          if (done) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
        }
      },
      return() {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
    return iterator;
  };

  function endAll() {
    for (const subs of [...byTenant.values()]) for (const s of [...subs]) s.end();
  }

  return {
    subscribe,
    size: () => count,
    deliver,
    endAll,
    async close() {
      endAll();
      const l = listener;
      listener = null;
      await l?.close();
    },
  };
}

/** `{"t": tenant, "r": [[run, workflow, status], …]}` (migration 0012), or null if malformed. */
function parsePayload(payload: string): { tenantId: string; changes: RunChange[] } | null {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const { t, r } = v as { t?: unknown; r?: unknown };
  if (typeof t !== 'string' || !Array.isArray(r)) return null;
  const changes: RunChange[] = [];
  for (const row of r) {
    if (!Array.isArray(row)) return null;
    const [runId, workflowId, status] = row as unknown[];
    if (typeof runId !== 'string' || typeof workflowId !== 'string' || typeof status !== 'string')
      return null;
    changes.push({ runId: runId as RunId, workflowId: workflowId as WorkflowId, status });
  }
  return { tenantId: t, changes };
}
