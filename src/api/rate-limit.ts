/**
 * Request rate limits per key (tenant, user, token, IP), GCRA in memory. Each API process
 * enforces its share of the configured limit (RATE_LIMIT_PROCESS_SHARE = the number of API
 * processes behind the load balancer), which keeps the hot path free of database writes;
 * docs/api.md documents the trade-off.
 */
export type RateDecision = {
  ok: boolean;
  limit: number;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
};

/** Idle keys are forgotten after this long (their bucket is full again by then). */
const FORGET_AFTER_MS = 2 * 60_000;

export function createRateLimiter(now: () => number = Date.now) {
  // key → theoretical arrival time (ms): when the bucket will be full again.
  const tat = new Map<string, number>();
  let lastSweep = now();
  return {
    /** Takes one request from `key`'s budget of `perMinute` (burst = perMinute / 6, at least 10). */
    take(key: string, perMinute: number): RateDecision {
      const t = now();
      if (t - lastSweep > FORGET_AFTER_MS) {
        for (const [k, v] of tat) if (v < t) tat.delete(k);
        lastSweep = t;
      }
      const interval = 60_000 / perMinute;
      const burst = Math.max(10, Math.ceil(perMinute / 6));
      const tolerance = interval * burst;
      const current = Math.max(tat.get(key) ?? t, t);
      const next = current + interval;
      const allowAt = next - tolerance;
      if (allowAt > t) {
        return {
          ok: false,
          limit: burst,
          remaining: 0,
          resetMs: current - t,
          retryAfterMs: Math.ceil(allowAt - t),
        };
      }
      tat.set(key, next);
      return {
        ok: true,
        limit: burst,
        remaining: Math.floor((tolerance - (next - t)) / interval),
        resetMs: next - t,
        retryAfterMs: 0,
      };
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
