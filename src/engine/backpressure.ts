/**
 * Backpressure: past the queue-depth limits (global, per tenant) new runs are refused with a
 * typed, retryable error instead of growing the backlog without bound.
 *
 * What is read costs the same whatever the size of the queue: the whole queue as PostgreSQL's
 * statistics estimate it (one row), a tenant's jobs counted up to its limit (an index-only scan
 * that stops there). Each is read at most every `queueDepthRefreshMs` per process, shared by all
 * callers, and in the background while the last value is still recent, so a start neither pays
 * for a count nor waits for one.
 */
import { countTenantJobs, estimateAllJobs } from '../db/queries/jobs.ts';
import { withSystem } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { TenantId } from '../model/ids.ts';
import type { EngineDeps } from './deps.ts';

export type OverloadStatus = { overloaded: boolean; depth: number; maxDepth: number };

export type Backpressure = {
  /** Throws E_QUEUE_OVERLOADED / E_TENANT_OVERLOADED when a new run must be refused. */
  assertAccepting(tenantId: TenantId): Promise<void>;
  /** For readiness: is the whole queue past its limit? */
  status(): Promise<OverloadStatus>;
};

/** How many refresh intervals old a value may be and still be used while a new one is read. */
const STALE_GRACE = 3;

type Reading = { value: number; at: number };

export function createBackpressure(
  deps: Pick<EngineDeps, 'pool' | 'clock' | 'config' | 'logger'>,
): Backpressure {
  const { config } = deps;
  const retryAfterMs = Math.max(1_000, config.queueDepthRefreshMs);
  const total = refreshing(deps, () => withSystem(deps.pool, (db) => estimateAllJobs(db)));
  const byTenant = new Map<TenantId, ReturnType<typeof refreshing>>();
  const tenantDepth = (tenantId: TenantId): Promise<number> => {
    let r = byTenant.get(tenantId);
    if (!r) {
      r = refreshing(deps, () =>
        withSystem(deps.pool, (db) =>
          countTenantJobs(db, { tenantId, cap: config.queueMaxDepthPerTenant }),
        ),
      );
      byTenant.set(tenantId, r);
    }
    return r.get();
  };

  return {
    async assertAccepting(tenantId) {
      const [all, mine] = await Promise.all([total.get(), tenantDepth(tenantId)]);
      if (all >= config.queueMaxDepth) {
        throw new SwitchyardError(
          'E_QUEUE_OVERLOADED',
          `The run queue holds about ${all} runs (limit QUEUE_MAX_DEPTH=${config.queueMaxDepth}); retry in ${Math.ceil(retryAfterMs / 1000)} s.`,
          { retryAfterMs, depth: all, maxDepth: config.queueMaxDepth },
        );
      }
      if (mine >= config.queueMaxDepthPerTenant) {
        throw new SwitchyardError(
          'E_TENANT_OVERLOADED',
          `This tenant has ${mine} queued runs (limit QUEUE_MAX_DEPTH_PER_TENANT=${config.queueMaxDepthPerTenant}); retry in ${Math.ceil(retryAfterMs / 1000)} s.`,
          { retryAfterMs, depth: mine, maxDepth: config.queueMaxDepthPerTenant },
        );
      }
    },
    async status() {
      const all = await total.get();
      return {
        overloaded: all >= config.queueMaxDepth,
        depth: all,
        maxDepth: config.queueMaxDepth,
      };
    },
  };
}

/**
 * A value read at most every `queueDepthRefreshMs`: a fresh reading is used as is; a stale one
 * (up to STALE_GRACE intervals old) is used while the next is read in the background; older
 * than that, or none yet, the caller waits for the read. Concurrent reads are shared.
 */
function refreshing(
  deps: Pick<EngineDeps, 'clock' | 'config' | 'logger'>,
  read: () => Promise<number>,
): { get(): Promise<number> } {
  const intervalMs = deps.config.queueDepthRefreshMs;
  let last: Reading | undefined;
  let pending: Promise<number> | undefined;
  const refresh = (): Promise<number> =>
    (pending ??= read()
      .then((value) => {
        last = { value, at: deps.clock.now().getTime() };
        return value;
      })
      .finally(() => {
        pending = undefined;
      }));
  return {
    get() {
      const age = last ? deps.clock.now().getTime() - last.at : Infinity;
      if (last && age < intervalMs) return Promise.resolve(last.value);
      if (last && age < STALE_GRACE * intervalMs) {
        refresh().catch((err: unknown) =>
          deps.logger.warn({ err }, 'could not read the queue depth for backpressure'),
        );
        return Promise.resolve(last.value);
      }
      return refresh();
    },
  };
}
