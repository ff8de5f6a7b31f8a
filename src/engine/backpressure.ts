/**
 * Backpressure: past the queue-depth limits (global, per tenant) new runs are refused with a
 * typed, retryable error instead of growing the backlog without bound. The depth is read at
 * most every `queueDepthRefreshMs` (one grouped count over the queue, shared by all callers of
 * this process, run in the background while the last one is still recent), so a start neither
 * pays for a count nor waits for one.
 */
import { selectQueueDepth } from '../db/queries/jobs.ts';
import { withSystem } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { TenantId } from '../model/ids.ts';
import type { EngineDeps } from './deps.ts';

export type QueueDepth = { total: number; byTenant: Map<string, number>; at: number };

export type OverloadStatus = { overloaded: boolean; depth: number; maxDepth: number };

export type Backpressure = {
  /** Throws E_QUEUE_OVERLOADED / E_TENANT_OVERLOADED when a new run must be refused. */
  assertAccepting(tenantId: TenantId): Promise<void>;
  /** For readiness: is the whole queue past its limit? */
  status(): Promise<OverloadStatus>;
};

/** How many refresh intervals old a count may be and still be used while a new one runs. */
const STALE_GRACE = 3;

export function createBackpressure(
  deps: Pick<EngineDeps, 'pool' | 'clock' | 'config' | 'logger'>,
): Backpressure {
  const { config } = deps;
  let snapshot: QueueDepth | undefined;
  let refreshing: Promise<QueueDepth> | undefined;
  const retryAfterMs = Math.max(1_000, config.queueDepthRefreshMs);

  const read = async (): Promise<QueueDepth> => {
    const rows = await withSystem(deps.pool, (c) => selectQueueDepth(c));
    const byTenant = new Map<string, number>();
    let total = 0;
    for (const r of rows) {
      byTenant.set(r.tenantId, r.pending + r.running);
      total += r.pending + r.running;
    }
    return { total, byTenant, at: deps.clock.now().getTime() };
  };

  const refresh = (): Promise<QueueDepth> =>
    (refreshing ??= read()
      .then((d) => (snapshot = d))
      .finally(() => {
        refreshing = undefined;
      }));

  /**
   * A fresh count is used as is; a stale one (up to STALE_GRACE intervals old) is used while a
   * new count runs in the background, so starts never wait for the count (on a large queue it
   * takes tens of milliseconds); older than that, or none yet, the caller waits for it.
   */
  const depth = async (): Promise<QueueDepth> => {
    const age = snapshot ? deps.clock.now().getTime() - snapshot.at : Infinity;
    if (snapshot && age < config.queueDepthRefreshMs) return snapshot;
    if (snapshot && age < STALE_GRACE * config.queueDepthRefreshMs) {
      refresh().catch((err: unknown) =>
        deps.logger.warn({ err }, 'could not count the queue for backpressure'),
      );
      return snapshot;
    }
    return refresh();
  };

  return {
    async assertAccepting(tenantId) {
      const d = await depth();
      if (d.total >= config.queueMaxDepth) {
        throw new SwitchyardError(
          'E_QUEUE_OVERLOADED',
          `The run queue holds ${d.total} runs (limit QUEUE_MAX_DEPTH=${config.queueMaxDepth}); retry in ${Math.ceil(retryAfterMs / 1000)} s.`,
          { retryAfterMs, depth: d.total, maxDepth: config.queueMaxDepth },
        );
      }
      const mine = d.byTenant.get(tenantId) ?? 0;
      if (mine >= config.queueMaxDepthPerTenant) {
        throw new SwitchyardError(
          'E_TENANT_OVERLOADED',
          `This tenant has ${mine} queued runs (limit QUEUE_MAX_DEPTH_PER_TENANT=${config.queueMaxDepthPerTenant}); retry in ${Math.ceil(retryAfterMs / 1000)} s.`,
          { retryAfterMs, depth: mine, maxDepth: config.queueMaxDepthPerTenant },
        );
      }
    },
    async status() {
      const d = await depth();
      return {
        overloaded: d.total >= config.queueMaxDepth,
        depth: d.total,
        maxDepth: config.queueMaxDepth,
      };
    },
  };
}
