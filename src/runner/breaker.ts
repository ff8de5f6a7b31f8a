/**
 * Circuit breaker per (tenant, external host, connection). Closed: calls pass and failures
 * are counted. After `failureThreshold` consecutive failures it opens: calls fail fast (as
 * retryable E_CIRCUIT_OPEN, rescheduled for after the cool-down). When the cool-down is over
 * one caller claims the probe (half-open, with a lease so a dead prober does not wedge it);
 * the probe's success closes the breaker, its failure opens it again.
 *
 * State lives in a BreakerStore so that all workers share it (PostgreSQL in production,
 * db/queries/circuit-breakers.ts); each store method is one atomic statement. The store
 * reports its own `now` so workers with skewed clocks agree on the cool-down.
 */
import type { TenantId } from '../model/ids.ts';
import type { Clock, Permit } from './types.ts';

export type BreakerState = 'closed' | 'open' | 'half_open';

export type BreakerKey = { tenantId: TenantId; host: string; connectionId: string | null };

export type BreakerSnapshot = {
  state: BreakerState;
  failures: number;
  openUntil: Date | null;
  now: Date;
};

export interface BreakerStore {
  read(key: BreakerKey): Promise<BreakerSnapshot | null>;
  /** open/half_open with openUntil <= now → half_open until now + leaseMs; true if claimed. */
  claimProbe(key: BreakerKey, leaseMs: number): Promise<boolean>;
  recordSuccess(key: BreakerKey): Promise<BreakerSnapshot>;
  recordFailure(
    key: BreakerKey,
    p: { threshold: number; cooldownMs: number },
  ): Promise<BreakerSnapshot>;
}

export type BreakerOptions = {
  store: BreakerStore;
  failureThreshold: number;
  cooldownMs: number;
  /** How long a claimed probe may take before another worker may probe. */
  probeLeaseMs?: number;
  /** For metrics: called when a recorded outcome changes the state. */
  onStateChange?: (key: BreakerKey, from: BreakerState, to: BreakerState) => void;
};

export interface CircuitBreaker {
  acquire(key: BreakerKey): Promise<Permit>;
  record(key: BreakerKey, outcome: 'success' | 'failure'): Promise<void>;
}

export function createCircuitBreaker(opts: BreakerOptions): CircuitBreaker {
  const probeLeaseMs = opts.probeLeaseMs ?? 30_000;
  return {
    async acquire(key) {
      const s = await opts.store.read(key);
      if (!s || s.state === 'closed') return { allowed: true };
      const waitMs = (s.openUntil?.getTime() ?? 0) - s.now.getTime();
      if (waitMs > 0) return { allowed: false, retryAfterMs: waitMs };
      if (await opts.store.claimProbe(key, probeLeaseMs)) return { allowed: true };
      return { allowed: false, retryAfterMs: Math.min(probeLeaseMs, 1_000) };
    },
    async record(key, outcome) {
      const before = opts.onStateChange ? await opts.store.read(key) : null;
      const after =
        outcome === 'success'
          ? await opts.store.recordSuccess(key)
          : await opts.store.recordFailure(key, {
              threshold: opts.failureThreshold,
              cooldownMs: opts.cooldownMs,
            });
      const from = before?.state ?? 'closed';
      if (opts.onStateChange && from !== after.state) opts.onStateChange(key, from, after.state);
    },
  };
}

/** A single-process store (tests, and a fallback when no database is wired). */
export function createMemoryBreakerStore(clock: Clock): BreakerStore & {
  list(): (BreakerKey & BreakerSnapshot)[];
} {
  const rows = new Map<
    string,
    BreakerKey & { state: BreakerState; failures: number; openUntil: Date | null }
  >();
  const id = (k: BreakerKey) => `${k.tenantId}\u0000${k.host}\u0000${k.connectionId ?? ''}`;
  const snap = (k: BreakerKey): BreakerSnapshot | null => {
    const r = rows.get(id(k));
    return r
      ? { state: r.state, failures: r.failures, openUntil: r.openUntil, now: clock.now() }
      : null;
  };
  return {
    read: (k) => Promise.resolve(snap(k)),
    claimProbe(k, leaseMs) {
      const r = rows.get(id(k));
      const now = clock.now();
      if (!r || r.state === 'closed' || (r.openUntil && r.openUntil > now))
        return Promise.resolve(false);
      r.state = 'half_open';
      r.openUntil = new Date(now.getTime() + leaseMs);
      return Promise.resolve(true);
    },
    recordSuccess(k) {
      rows.set(id(k), { ...k, state: 'closed', failures: 0, openUntil: null });
      return Promise.resolve(snap(k)!);
    },
    recordFailure(k, p) {
      const r = rows.get(id(k)) ?? {
        ...k,
        state: 'closed' as BreakerState,
        failures: 0,
        openUntil: null,
      };
      r.failures += 1;
      if (r.state === 'half_open' || r.failures >= p.threshold) {
        r.state = 'open';
        r.openUntil = new Date(clock.now().getTime() + p.cooldownMs);
      }
      rows.set(id(k), r);
      return Promise.resolve(snap(k)!);
    },
    list: () => [...rows.values()].map((r) => ({ ...r, now: clock.now() })),
  };
}
