/**
 * Backpressure: past the queue-depth limits (global, per tenant) new runs are refused with a
 * typed, retryable error instead of growing the backlog without bound. The depth is read at
 * most every `queueDepthRefreshMs` (one grouped count over the queue, shared by all callers of
 * this process), so a start does not pay for a count.
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

export function createBackpressure(
  deps: Pick<EngineDeps, 'pool' | 'clock' | 'config'>,
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

  const depth = async (): Promise<QueueDepth> => {
    const now = deps.clock.now().getTime();
    if (snapshot && now - snapshot.at < config.queueDepthRefreshMs) return snapshot;
    refreshing ??= read().finally(() => {
      refreshing = undefined;
    });
    snapshot = await refreshing;
    return snapshot;
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
