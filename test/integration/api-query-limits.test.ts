import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedTenant } from '../../src/accounts/create-tenant.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

/** Batching through aliases and mutation fields, cost spent from the budgets, introspection. */
let db: TestDatabase;
let api: TestApi;
let tenant: CreatedTenant;

const RUN_FIELDS = 'id workflowId workflowVersionId triggerId idempotencyKey status createdAt';
// Cost 1 + 100 (nodes) + 100 × 7 = 801: 9 units of each budget.
const COSTLY = `{ runs(first: 100) { nodes { ${RUN_FIELDS} } } }`;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  tenant = await makeTenant(db.pool, 'Limits');
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

async function count(table: string): Promise<number> {
  const r = await db.ownerPool.query<{ n: number }>(`select count(*)::int as n from ${table}`);
  return r.rows[0]!.n;
}

describe('one request cannot batch past the limits', () => {
  it('refuses 5,000 aliases quickly, and more than 20 aliases at all', async () => {
    const huge = `{ ${Array.from({ length: 5000 }, (_, i) => `a${i}: connections { nodes { id } }`).join(' ')} }`;
    const started = performance.now();
    const r = await api.gql(huge, {}, { token: tenant.apiToken });
    const ms = performance.now() - started;
    expect(r.errors?.[0]?.extensions?.code).toBe('E_QUERY_TOO_COMPLEX');
    expect(r.data).toBeNull();
    expect(ms).toBeLessThan(500);

    const aliased = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: connections { nodes { id } }`).join(' ')} }`;
    const over = await api.gql(aliased(21), {}, { token: tenant.apiToken });
    expect(over.errors?.[0]).toMatchObject({
      message: 'The document has 21 aliases; the limit is 20.',
      extensions: { code: 'E_QUERY_TOO_COMPLEX' },
    });
    const within = await api.gql(aliased(20), {}, { token: tenant.apiToken });
    expect(within.errors).toBeUndefined();
  });

  it('refuses more than 10 mutation fields in one request, running none of them', async () => {
    const before = await count('workflows');
    const eleven = `mutation { ${Array.from({ length: 11 }, (_, i) => `w${i}: createWorkflow(name: "w${i}") { id }`).join(' ')} }`;
    const r = await api.gql(eleven, {}, { token: tenant.apiToken });
    expect(r.errors?.[0]).toMatchObject({
      message: 'The mutation has 11 fields; the limit is 10 per request.',
      extensions: { code: 'E_QUERY_TOO_COMPLEX' },
    });
    const tokens = `mutation { ${Array.from({ length: 200 }, (_, i) => `t${i}: createApiToken(name: "t", role: viewer) { secret }`).join(' ')} }`;
    const minted = await api.gql(tokens, {}, { token: tenant.apiToken });
    expect(minted.errors?.[0]?.extensions?.code).toBe('E_QUERY_TOO_COMPLEX');
    expect(await count('workflows')).toBe(before);
    expect(await count('api_tokens')).toBe(1);
  });

  it('covers introspection with depth and cost, and refuses it to anonymous callers', async () => {
    const standard = await api.gql(getIntrospectionQuery(), {}, { token: tenant.apiToken });
    expect(standard.errors).toBeUndefined();
    const nested = await api.gql(
      '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }',
      {},
      { token: tenant.apiToken },
    );
    expect(nested.errors?.[0]?.extensions?.code).toBe('E_QUERY_TOO_COMPLEX');
    expect(nested.errors?.[0]?.message).toMatch(/^The query costs \d+; the limit is 20000/);
    const ofTypes = 'ofType { '.repeat(14) + 'name' + ' }'.repeat(14);
    const deep = await api.gql(
      `{ __type(name: "Query") { ${ofTypes} } }`,
      {},
      {
        token: tenant.apiToken,
      },
    );
    expect(deep.errors?.[0]?.message).toBe('The query is 16 levels deep; the limit is 15.');

    const anonymous = await api.gql('{ __schema { queryType { name } } }');
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
    expect(anonymous.data).toBeNull();
    const typename = await api.gql('{ __typename }');
    expect(typename.data).toEqual({ __typename: 'Query' });
  });
});

describe('rate-limit budgets', () => {
  it('answer the documented numbers in the IETF RateLimit fields', async () => {
    const asToken = await api.gql('{ viewer { kind } }', {}, { token: tenant.apiToken });
    expect(asToken.headers.get('ratelimit-limit')).toBe('1200');
    expect(asToken.headers.get('ratelimit-policy')).toBe('1200;w=60');
    expect(Number(asToken.headers.get('ratelimit-remaining'))).toBeGreaterThan(1100);
    expect(Number(asToken.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(60);
    const asked = performance.now();
    const anonymous = await api.gql('{ __typename }');
    expect(anonymous.headers.get('ratelimit-limit')).toBe('600');
    expect(anonymous.headers.get('ratelimit-policy')).toBe('600;w=60');
    const left = Number(anonymous.headers.get('ratelimit-remaining'));
    expect(left).toBeGreaterThan(590);
    // The bucket refills at 600 per 60 s: full again within a second or two.
    expect(Number(anonymous.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(2);
    const next = await api.gql('{ __typename }');
    // One request spent one; the bucket refilled 10 a second meanwhile (a loaded machine
    // takes more than the 100 ms that refills one).
    const refilled = Math.ceil(((performance.now() - asked) / 1000) * 10);
    const remaining = Number(next.headers.get('ratelimit-remaining'));
    expect(remaining).toBeGreaterThanOrEqual(left - 1);
    expect(remaining).toBeLessThanOrEqual(Math.min(600, left - 1 + refilled));
  });

  it('spend a request’s cost: a costly request drains the budget and the next gets 429', async () => {
    const strict = await startTestApi(db, {
      RATE_LIMIT_PRINCIPAL_PER_MINUTE: '20',
      RATE_LIMIT_TENANT_PER_MINUTE: '1000',
    });
    try {
      const own = await makeTenant(db.pool, 'Costly');
      const first = await strict.gql(COSTLY, {}, { token: own.apiToken });
      expect(first.status).toBe(200);
      expect(first.errors).toBeUndefined();
      expect(first.headers.get('ratelimit-limit')).toBe('20');
      expect(first.headers.get('ratelimit-remaining')).toBe('11');
      const second = await strict.gql(COSTLY, {}, { token: own.apiToken });
      expect(second.headers.get('ratelimit-remaining')).toBe('2');
      const third = await strict.gql(COSTLY, {}, { token: own.apiToken });
      expect(third.status).toBe(429);
      expect(third.errors?.[0]?.extensions?.code).toBe('E_TOO_MANY_REQUESTS');
      expect(third.data).toBeNull();
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(15);
      // The refused request spent only its first unit: one cheap request still passes.
      const cheap = await strict.gql('{ viewer { kind } }', {}, { token: own.apiToken });
      expect(cheap.status).toBe(200);
      expect(cheap.headers.get('ratelimit-remaining')).toBe('0');

      // Each mutation field is one request: ten of them spend ten units.
      const other = await makeTenant(db.pool, 'Writes');
      const ten = `mutation { ${Array.from({ length: 10 }, (_, i) => `w${i}: createWorkflow(name: "w${i}") { id }`).join(' ')} }`;
      const writes = await strict.gql(ten, {}, { token: other.apiToken });
      expect(writes.errors).toBeUndefined();
      expect(writes.headers.get('ratelimit-remaining')).toBe('10');
    } finally {
      await strict.close();
    }
  });
});

describe('ids', () => {
  it('answer E_VALIDATION naming the argument for any id that is not one', async () => {
    const auth = { token: tenant.apiToken };
    const literal = await api.gql(`{ run(id: "' or 1=1 --") { id } }`, {}, auth);
    expect(literal.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'id' });
    expect(literal.errors?.[0]?.message).toContain('"id" is not an id');
    const variable = await api.gql(
      'mutation($id: ID!) { revokeApiToken(id: $id) { id } }',
      { id: 'nope' },
      auth,
    );
    expect(variable.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'id' });
    const nested = await api.gql('{ runs(filter: { workflowId: 42 }) { nodes { id } } }', {}, auth);
    expect(nested.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'filter.workflowId',
    });
    const byDefault = await api.gql('query($id: ID! = "1 or 1") { run(id: $id) { id } }', {}, auth);
    expect(byDefault.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'id' });
    const list = await api.gql(
      'mutation($ids: [ID!]) { replayRuns(filter: { ids: $ids }) { runId } }',
      { ids: ['00000000-0000-4000-8000-000000000000', 'bad'] },
      auth,
    );
    expect(list.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'filter.ids[1]',
    });
    const member = await api.gql('mutation { removeMember(userId: "x") }', {}, auth);
    expect(member.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'userId' });
    const fine = await api.gql(
      '{ run(id: "00000000-0000-4000-8000-000000000000") { id } }',
      {},
      auth,
    );
    expect(fine.errors).toBeUndefined();
    expect(fine.data).toEqual({ run: null });
  });
});
