import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  // A burst of 10 (the minimum), then one request per 10 s, per token, user, tenant and IP.
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
    expect(statuses.filter((s) => s === 200).length).toBe(10);
    expect(statuses.slice(10)).toEqual([429, 429, 429, 429, 429]);
    expect(limited?.errors?.[0]?.extensions?.code).toBe('E_TOO_MANY_REQUESTS');
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited?.headers.get('ratelimit-remaining')).toBe('0');
    expect(limited?.headers.get('ratelimit-limit')).toBe('10');

    const other = await api.gql('{ viewer { kind } }', {}, { token: quiet.apiToken });
    expect(other.status).toBe(200);
    expect(Number(other.headers.get('ratelimit-remaining'))).toBeGreaterThan(5);
  });
});
