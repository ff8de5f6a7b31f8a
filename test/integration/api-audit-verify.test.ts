/**
 * `verifyAuditChain` over the API: ok on an intact chain; after the database owner alters an
 * event behind the append-only triggers, the first broken link is named; admins only.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

const VERIFY = `{ verifyAuditChain { ok checked firstBrokenSeq reason } }`;

it('answers ok on an intact chain and names the first broken link after tampering', async () => {
  const t = await makeTenant(db.pool, 'Verified');
  for (const name of ['One', 'Two', 'Three']) {
    const r = await api.gql(
      `mutation($n: String!) { renameTenant(name: $n) { name } }`,
      { n: name },
      { token: t.apiToken },
    );
    expect(r.errors).toBeUndefined();
  }
  const intact = await api.gql<{ verifyAuditChain: unknown }>(VERIFY, {}, { token: t.apiToken });
  expect(intact.errors).toBeUndefined();
  const { rows } = await db.ownerPool.query<{ n: number; second: number }>(
    `select count(*)::int as n, (min(seq) + 1)::int as second from audit_events where tenant_id = $1`,
    [t.tenantId],
  );
  expect(intact.data!.verifyAuditChain).toEqual({
    ok: true,
    checked: rows[0]!.n,
    firstBrokenSeq: null,
    reason: null,
  });

  const owner = await db.ownerPool.connect();
  try {
    await owner.query('begin');
    await owner.query('alter table audit_events disable trigger audit_events_immutable');
    await owner.query(`update audit_events set action = 'x' where tenant_id = $1 and seq = $2`, [
      t.tenantId,
      rows[0]!.second,
    ]);
    await owner.query('alter table audit_events enable trigger audit_events_immutable');
    await owner.query('commit');
  } finally {
    owner.release();
  }
  const broken = await api.gql<{ verifyAuditChain: unknown }>(VERIFY, {}, { token: t.apiToken });
  expect(broken.data!.verifyAuditChain).toEqual({
    ok: false,
    checked: 2,
    firstBrokenSeq: rows[0]!.second,
    reason: 'hash-mismatch',
  });
});

it('is refused to editors', async () => {
  const t = await makeTenant(db.pool, 'Editors');
  const editor = await api.gql<{ createApiToken: { secret: string } }>(
    `mutation { createApiToken(name: "e", role: editor) { secret } }`,
    {},
    { token: t.apiToken },
  );
  const r = await api.gql(VERIFY, {}, { token: editor.data!.createApiToken.secret });
  expect(r.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
});
