/**
 * Circuit breaker per (tenant, external host, connection). Closed: calls pass and failures
 * are counted. After `failureThreshold` consecutive failures it opens: calls fail fast (as
 * retryable E_CIRCUIT_OPEN, rescheduled for after the cool-down). When the cool-down is over
 * the breaker is half-open for a window (`probeLeaseMs`, so a dead prober does not wedge it)
 * in which up to `probes` calls go out: the first success closes it, the window's last probe
 * failing opens it again.
 *
 * Retries are the better evidence. A step that has already sent (attempt > 1) may probe as
 * soon as the cool-down ends; a first try waits `probeGraceMs` more. And while a retry to the
 * host succeeded within `retrySuccessTrustMs`, first tries' failures do not open a closed
 * breaker (a retry's failure still counts in full). Against an upstream that fails every
 * request's first try, a breaker probed by first tries never learns of a recovery (each probe
 * fails by design), and one that counts those failures re-opens as soon as a burst's first
 * tries go out: the burst waits out cool-down after cool-down. Without retries (retry
 * strategy none) nothing changes: no retry ever succeeds.
 *
 * State lives in a BreakerStore so that all workers share it (PostgreSQL in production,
 * db/queries/circuit-breakers.ts); each store method is one atomic statement. The store
 * reports its own `now` so workers with skewed clocks agree on the cool-down, and each write
 * reports the state it replaced, so a change is reported once however many workers race.
 */
import type { TenantId } from '../model/ids.ts';
import type { Clock, Permit } from './types.ts';

export type BreakerState = 'closed' | 'open' | 'half_open';

export type BreakerKey = { tenantId: TenantId; host: string; connectionId: string | null };

export type BreakerSnapshot = {
  state: BreakerState;
  failures: number;
  /** open: the end of the cool-down; half_open: the end of the probe window. */
  openUntil: Date | null;
  /** Probes claimed in the current half-open window. */
  probes: number;
  now: Date;
};

/** A write's result and the state the breaker had just before it. */
export type BreakerWrite = BreakerSnapshot & { previous: BreakerState };

export interface BreakerStore {
  read(key: BreakerKey): Promise<BreakerSnapshot | null>;
  /**
   * open with openUntil <= now, or half_open whose window is over → a new half_open window
   * until now + leaseMs with this probe; half_open with fewer than maxProbes probes → one
   * more. True if claimed.
   */
  claimProbe(key: BreakerKey, p: { leaseMs: number; maxProbes: number }): Promise<boolean>;
  /** `retry`: the request had been sent before (its success is remembered, see above). */
  recordSuccess(key: BreakerKey, p: { retry: boolean }): Promise<BreakerWrite>;
  recordFailure(
    key: BreakerKey,
    p: {
      threshold: number;
      cooldownMs: number;
      maxProbes: number;
      retry: boolean;
      retrySuccessTrustMs: number;
    },
  ): Promise<BreakerWrite>;
}

export type BreakerOptions = {
  store: BreakerStore;
  failureThreshold: number;
  cooldownMs: number;
  /** How long a half-open window lasts before another one may start (a prober may be dead). */
  probeLeaseMs?: number;
  /** Probes per half-open window. */
  probes?: number;
  /** How long after the cool-down a first try waits, so that retries probe first. */
  probeGraceMs?: number;
  /** How long a retry's success keeps first tries' failures from opening (default: cool-down). */
  retrySuccessTrustMs?: number;
  /** For logs and metrics: called once per change a recorded outcome makes. */
  onStateChange?: (key: BreakerKey, from: BreakerState, to: BreakerState) => void;
};

/** Several probes: one that fails by design (a first try) does not decide for the others. */
export const DEFAULT_BREAKER_PROBES = 3;

export interface CircuitBreaker {
  /** `retry`: the caller has sent this request before (see probeGraceMs). */
  acquire(key: BreakerKey, o?: { retry?: boolean }): Promise<Permit>;
  record(key: BreakerKey, outcome: 'success' | 'failure', o?: { retry?: boolean }): Promise<void>;
}

export function createCircuitBreaker(opts: BreakerOptions): CircuitBreaker {
  const probeLeaseMs = opts.probeLeaseMs ?? 30_000;
  const maxProbes = Math.max(1, opts.probes ?? DEFAULT_BREAKER_PROBES);
  const probeGraceMs = opts.probeGraceMs ?? Math.min(1_000, Math.floor(opts.cooldownMs / 2));
  const retrySuccessTrustMs = opts.retrySuccessTrustMs ?? opts.cooldownMs;
  return {
    async acquire(key, o = {}) {
      const s = await opts.store.read(key);
      if (!s || s.state === 'closed') return { allowed: true };
      const now = s.now.getTime();
      const until = s.openUntil?.getTime() ?? 0;
      if (s.state === 'open') {
        const readyAt = until + (o.retry ? 0 : probeGraceMs);
        if (readyAt > now) return { allowed: false, retryAfterMs: readyAt - now };
      } else if (until > now && s.probes >= maxProbes) {
        // This window's probes are out: their answers decide; look again soon.
        return { allowed: false, retryAfterMs: Math.min(until - now, 1_000) };
      }
      if (await opts.store.claimProbe(key, { leaseMs: probeLeaseMs, maxProbes }))
        return { allowed: true };
      return { allowed: false, retryAfterMs: Math.min(probeLeaseMs, 1_000) };
    },
    async record(key, outcome, o = {}) {
      const retry = o.retry ?? false;
      const w =
        outcome === 'success'
          ? await opts.store.recordSuccess(key, { retry })
          : await opts.store.recordFailure(key, {
              threshold: opts.failureThreshold,
              cooldownMs: opts.cooldownMs,
              maxProbes,
              retry,
              retrySuccessTrustMs,
            });
      if (w.previous !== w.state) opts.onStateChange?.(key, w.previous, w.state);
    },
  };
}

/** A single-process store (tests, and a fallback when no database is wired). */
export function createMemoryBreakerStore(clock: Clock): BreakerStore & {
  list(): (BreakerKey & BreakerSnapshot)[];
} {
  type Row = BreakerKey & {
    state: BreakerState;
    failures: number;
    openUntil: Date | null;
    probes: number;
    lastRetrySuccessAt: number | null;
  };
  const rows = new Map<string, Row>();
  const id = (k: BreakerKey) => `${k.tenantId}\u0000${k.host}\u0000${k.connectionId ?? ''}`;
  const snap = (r: Row): BreakerSnapshot => ({
    state: r.state,
    failures: r.failures,
    openUntil: r.openUntil,
    probes: r.probes,
    now: clock.now(),
  });
  return {
    read(k) {
      const r = rows.get(id(k));
      return Promise.resolve(r ? snap(r) : null);
    },
    claimProbe(k, p) {
      const r = rows.get(id(k));
      const now = clock.now();
      if (!r || r.state === 'closed') return Promise.resolve(false);
      const over = !r.openUntil || r.openUntil <= now;
      if (r.state === 'open' && !over) return Promise.resolve(false);
      if (r.state === 'half_open' && !over && r.probes >= p.maxProbes)
        return Promise.resolve(false);
      if (r.state === 'open' || over) {
        r.probes = 1;
        r.failures = 0;
        r.openUntil = new Date(now.getTime() + p.leaseMs);
      } else r.probes += 1;
      r.state = 'half_open';
      return Promise.resolve(true);
    },
    recordSuccess(k, p) {
      const old = rows.get(id(k));
      const previous = old?.state ?? 'closed';
      const r: Row = {
        ...k,
        state: 'closed',
        failures: 0,
        openUntil: null,
        probes: 0,
        lastRetrySuccessAt: p.retry ? clock.now().getTime() : (old?.lastRetrySuccessAt ?? null),
      };
      rows.set(id(k), r);
      return Promise.resolve({ ...snap(r), previous });
    },
    recordFailure(k, p) {
      const r = rows.get(id(k)) ?? {
        ...k,
        state: 'closed' as BreakerState,
        failures: 0,
        openUntil: null,
        probes: 0,
        lastRetrySuccessAt: null,
      };
      const previous = r.state;
      r.failures += 1;
      const trusted =
        !p.retry &&
        r.lastRetrySuccessAt !== null &&
        r.lastRetrySuccessAt > clock.now().getTime() - p.retrySuccessTrustMs;
      if (
        (r.state === 'closed' && r.failures >= p.threshold && !trusted) ||
        (r.state === 'half_open' && r.failures >= p.maxProbes)
      ) {
        r.state = 'open';
        r.openUntil = new Date(clock.now().getTime() + p.cooldownMs);
      }
      rows.set(id(k), r);
      return Promise.resolve({ ...snap(r), previous });
    },
    list: () => [...rows.values()].map((r) => ({ ...r, now: clock.now() })),
  };
}
