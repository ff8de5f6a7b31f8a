import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  // A budget of 6 per 60 s (refilling at one per 10 s), per token, user, tenant and IP.
  api = await startTestApi(db, {
    RATE_LIMIT_PRINCIPAL_PER_MINUTE: '6',
    RATE_LIMIT_TENANT_PER_MINUTE: '6',
    RATE_LIMIT_IP_PER_MINUTE: '6',
  });
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('request rate limits', () => {
  it('answer 429 with Retry-After and RateLimit headers, without throttling another tenant', async () => {
    const flooding = await makeTenant(db.pool, 'Flood');
    const quiet = await makeTenant(db.pool, 'Quiet');
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<TestApi['gql']>> | undefined;
    for (let i = 0; i < 15; i++) {
      const r = await api.gql('{ viewer { kind } }', {}, { token: flooding.apiToken });
      statuses.push(r.status);
      if (r.status === 429) limited ??= r;
    }
    expect(statuses.filter((s) => s === 200).length).toBe(6);
    expect(statuses.slice(6)).toEqual([429, 429, 429, 429, 429, 429, 429, 429, 429]);
    expect(limited?.errors?.[0]?.extensions?.code).toBe('E_TOO_MANY_REQUESTS');
    // The next unit is back within 10 s; the whole budget within 60 s.
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(9);
    expect(Number(limited?.headers.get('retry-after'))).toBeLessThanOrEqual(10);
    expect(limited?.headers.get('ratelimit-remaining')).toBe('0');
    expect(limited?.headers.get('ratelimit-limit')).toBe('6');
    expect(limited?.headers.get('ratelimit-policy')).toBe('6;w=60');
    expect(Number(limited?.headers.get('ratelimit-reset'))).toBeGreaterThan(50);
    expect(Number(limited?.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(60);

    const other = await api.gql('{ viewer { kind } }', {}, { token: quiet.apiToken });
    expect(other.status).toBe(200);
    expect(other.headers.get('ratelimit-remaining')).toBe('5');
  });
});
