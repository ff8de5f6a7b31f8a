import { describe, expect, it } from 'vitest';
import { createRateLimiter, rateLimitHeaders } from '../../src/api/rate-limit.ts';

describe('GCRA budgets', () => {
  it('hold the per-minute number, refill over 60 s, and say so in the IETF fields', () => {
    let now = 1_000_000;
    const limiter = createRateLimiter(() => now);
    const budget = [{ key: 'token:a', perMinute: 60 }];
    const first = limiter.takeAll(budget, 1);
    expect(rateLimitHeaders(first)).toEqual({
      'RateLimit-Limit': '60',
      'RateLimit-Remaining': '59',
      'RateLimit-Reset': '1',
      'RateLimit-Policy': '60;w=60',
    });
    expect(limiter.takeAll(budget, 59)).toMatchObject({ ok: true, remaining: 0, resetMs: 60_000 });
    const refused = limiter.takeAll(budget, 1);
    expect(refused).toMatchObject({ ok: false, remaining: 0, retryAfterMs: 1_000 });
    now += 30_000;
    expect(limiter.takeAll(budget, 31)).toMatchObject({ ok: false, remaining: 30 });
    expect(limiter.takeAll(budget, 30)).toMatchObject({ ok: true, remaining: 0 });
  });

  it('spend from every budget or from none', () => {
    const limiter = createRateLimiter(() => 0);
    const token = { key: 'token:b', perMinute: 100 };
    const tenant = { key: 'tenant:t', perMinute: 10 };
    expect(limiter.takeAll([token, tenant], 8).ok).toBe(true);
    // The tenant has 2 left: a request of 5 is refused and the token keeps its 92.
    expect(limiter.takeAll([token, tenant], 5).ok).toBe(false);
    expect(limiter.takeAll([token], 1).remaining).toBe(91);
    // A request heavier than the whole budget is told to wait a full window.
    expect(limiter.takeAll([tenant], 11)).toMatchObject({ ok: false, retryAfterMs: 60_000 });
  });
});
