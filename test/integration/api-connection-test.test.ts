/**
 * testConnection over GraphQL against a local fake API: accepted and refused credentials, an
 * address the gate refuses, who may test, and the audit line. The answer never carries the
 * service's body or the secret.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';

let db: TestDatabase;
let api: TestApi;
let service: LocalServer;
let owner: string;
let viewer: string;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startServer((req, res) =>
    req.headers['x-api-key'] === 'good-key'
      ? sendJson(res, 200, { hello: 'secret-body' })
      : sendJson(res, 401, { error: 'bad key' }),
  );
  api = await startTestApi(db, { GATE_ALLOW_HTTP_HOSTS: service.hostPort });
  owner = (await makeTenant(db.pool, 'Tester')).apiToken;
  const v = await api.gql<{ createApiToken: { secret: string } }>(
    `mutation { createApiToken(name: "v", role: viewer) { secret } }`,
    {},
    { token: owner },
  );
  viewer = v.data!.createApiToken.secret;
});
afterAll(async () => {
  await api.close();
  await service.close();
  await db.drop();
});

async function connectionTo(baseUrl: string, apiKey: string): Promise<string> {
  const app = await api.gql<{ createApp: { id: string } }>(
    `mutation($i: AppInput!) { createApp(input: $i) { id } }`,
    {
      i: {
        key: `svc-${Math.random().toString(36).slice(2, 8)}`,
        name: 'Service',
        baseUrl,
        authKind: 'api_key',
        authConfig: { in: 'header', name: 'X-Api-Key' },
      },
    },
    { token: owner },
  );
  expect(app.errors).toBeUndefined();
  const conn = await api.gql<{ createConnection: { id: string } }>(
    `mutation($a: ID!, $s: JSON) { createConnection(appId: $a, name: "c", secret: $s) { id } }`,
    { a: app.data!.createApp.id, s: { apiKey } },
    { token: owner },
  );
  expect(conn.errors).toBeUndefined();
  return conn.data!.createConnection.id;
}

const TEST = `mutation($id: ID!) { testConnection(id: $id) { ok status code message } }`;

it('answers ok with the status when the service accepts the credentials, and audits it', async () => {
  const id = await connectionTo(`${service.url}/v1`, 'good-key');
  const r = await api.gql(TEST, { id }, { token: owner });
  expect(r.errors).toBeUndefined();
  expect(r.data).toEqual({
    testConnection: { ok: true, status: 200, code: null, message: 'Service answered 200.' },
  });
  expect(service.requests.at(-1)).toMatchObject({ method: 'GET', url: '/v1' });
  expect(JSON.stringify(r)).not.toContain('secret-body');
  const audit = await db.ownerPool.query(
    `select metadata from audit_events where action = 'connection.tested' and target_id = $1`,
    [id],
  );
  expect(audit.rows).toEqual([{ metadata: { ok: true, status: 200, code: null } }]);
});

it('says the credentials were refused, with the registry code', async () => {
  const id = await connectionTo(service.url, 'wrong-key');
  const r = await api.gql(TEST, { id }, { token: owner });
  expect(r.data).toEqual({
    testConnection: {
      ok: false,
      status: 401,
      code: 'E_UPSTREAM_REJECTED',
      message: 'Service refused the credentials (401): check the secret.',
    },
  });
  expect(JSON.stringify(r)).not.toContain('wrong-key');
});

it('reports an address the gate refuses without calling it', async () => {
  const id = await connectionTo('http://127.0.0.1:9/', 'good-key');
  const before = service.requests.length;
  const r = await api.gql<{ testConnection: { ok: boolean; code: string } }>(
    TEST,
    { id },
    { token: owner },
  );
  expect(r.data?.testConnection).toMatchObject({ ok: false, code: 'E_GATE_BLOCKED' });
  expect(service.requests.length).toBe(before);
});

it('is for editors and above, and only for connections of the tenant', async () => {
  const id = await connectionTo(service.url, 'good-key');
  const denied = await api.gql(TEST, { id }, { token: viewer });
  expect(denied.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
  const other = (await makeTenant(db.pool, 'Other')).apiToken;
  const hidden = await api.gql(TEST, { id }, { token: other });
  expect(hidden.errors?.[0]?.extensions?.code).toBe('E_NOT_FOUND');
});
