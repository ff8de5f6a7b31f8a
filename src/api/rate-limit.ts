/**
 * Request rate limits per key (tenant, user, token, IP), GCRA in memory. Each API process
 * enforces its share of the configured limit (RATE_LIMIT_PROCESS_SHARE = the number of API
 * processes behind the load balancer), which keeps the hot path free of database writes;
 * docs/api.md documents the trade-off.
 *
 * A budget of N per minute is a bucket of N units that refills continuously at N per 60 s
 * (GCRA): the answer's headers follow the IETF RateLimit fields with a 60 s window, so
 * `RateLimit-Limit` is the configured per-minute number, `RateLimit-Remaining` what is left in
 * the bucket and `RateLimit-Reset` the seconds until it is full again.
 */
export type RateDecision = {
  ok: boolean;
  /** The budget (units per window). */
  limit: number;
  remaining: number;
  /** Until the bucket is full again. */
  resetMs: number;
  retryAfterMs: number;
};

export type RateBudget = { key: string; perMinute: number };

/** The window every budget is expressed in (RateLimit-Policy `w`). */
export const RATE_WINDOW_MS = 60_000;

/** Idle keys are forgotten after this long (their bucket is full again by then). */
const FORGET_AFTER_MS = 2 * RATE_WINDOW_MS;

export function createRateLimiter(now: () => number = Date.now) {
  // key → theoretical arrival time (ms): when the bucket will be full again.
  const tat = new Map<string, number>();
  let lastSweep = now();

  const decide = (b: RateBudget, weight: number, t: number) => {
    const interval = RATE_WINDOW_MS / b.perMinute;
    const tolerance = interval * b.perMinute;
    const current = Math.max(tat.get(b.key) ?? t, t);
    const next = current + interval * weight;
    const allowAt = next - tolerance;
    if (allowAt > t) {
      const decision: RateDecision = {
        ok: false,
        limit: b.perMinute,
        remaining: Math.max(0, Math.floor((tolerance - (current - t)) / interval)),
        resetMs: current - t,
        // A request heavier than the whole budget can never pass: say so with a full window.
        retryAfterMs: weight > b.perMinute ? RATE_WINDOW_MS : Math.ceil(allowAt - t),
      };
      return { decision, next: current };
    }
    const decision: RateDecision = {
      ok: true,
      limit: b.perMinute,
      remaining: Math.floor((tolerance - (next - t)) / interval),
      resetMs: next - t,
      retryAfterMs: 0,
    };
    return { decision, next };
  };

  /**
   * Spends `weight` units from every budget, or from none when one of them is short (so a
   * refused request costs nothing). Answers the decision that binds: the refusal with the
   * longest wait, else the budget with the least left.
   */
  const takeAll = (budgets: RateBudget[], weight = 1): RateDecision => {
    const t = now();
    if (t - lastSweep > FORGET_AFTER_MS) {
      for (const [k, v] of tat) if (v < t) tat.delete(k);
      lastSweep = t;
    }
    const decided = budgets.map((b) => ({ b, ...decide(b, weight, t) }));
    const refused = decided.filter((d) => !d.decision.ok);
    if (refused.length > 0) {
      return refused.reduce((a, b) => (b.decision.retryAfterMs > a.decision.retryAfterMs ? b : a))
        .decision;
    }
    for (const d of decided) tat.set(d.b.key, d.next);
    return decided.reduce((a, b) => (b.decision.remaining < a.decision.remaining ? b : a)).decision;
  };
  return {
    takeAll,
    /** One unit from one budget. */
    take: (key: string, perMinute: number): RateDecision => takeAll([{ key, perMinute }], 1),
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

/** The IETF RateLimit fields of a decision (RateLimit-Policy names the 60 s window). */
export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  return {
    'RateLimit-Limit': String(d.limit),
    'RateLimit-Remaining': String(d.remaining),
    'RateLimit-Reset': String(Math.ceil(d.resetMs / 1000)),
    'RateLimit-Policy': `${d.limit};w=${RATE_WINDOW_MS / 1000}`,
  };
}
