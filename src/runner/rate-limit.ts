/**
 * GCRA (generic cell rate algorithm), the rate limiter the runner asks before a step runs.
 * One "theoretical arrival time" (tat) per key is all the state: a request is allowed when
 * max(tat, now) - now <= burst, and then tat advances by one emission interval. The shared
 * implementation is one atomic upsert in PostgreSQL (db/queries/rate-limits.ts); this
 * in-memory one uses the same arithmetic for a single process and for tests.
 */
import type { Clock, Permit, RateLimiter } from './types.ts';

export type GcraParams = { requests: number; perSeconds: number };

/** Emission interval T and burst tolerance tau, in ms: `requests` at once, then one per T. */
export function gcraTiming(p: GcraParams): { intervalMs: number; burstMs: number } {
  const intervalMs = (p.perSeconds * 1000) / p.requests;
  return { intervalMs, burstMs: intervalMs * (p.requests - 1) };
}

export function createMemoryRateLimiter(clock: Clock): RateLimiter {
  const tats = new Map<string, number>();
  return {
    acquire(p): Promise<Permit> {
      const { intervalMs, burstMs } = gcraTiming(p);
      const now = clock.now().getTime();
      const key = `${p.tenantId}\u0000${p.key}`;
      const base = Math.max(tats.get(key) ?? now, now);
      if (base - now > burstMs)
        return Promise.resolve({ allowed: false, retryAfterMs: Math.ceil(base - now - burstMs) });
      tats.set(key, base + intervalMs);
      return Promise.resolve({ allowed: true });
    },
  };
}
