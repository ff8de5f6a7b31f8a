/**
 * OAuth 2.0 authorization code with PKCE against a real local authorization server
 * (oauth2-mock-server on 127.0.0.1, which checks the PKCE verifier), through the real API
 * (startOAuthConnection, /oauth/callback) and real step executors over PostgreSQL. The mock
 * rotates refresh tokens; the test makes it a strict provider: a refresh token works once.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { OAuth2Server } from 'oauth2-mock-server';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedTenant } from '../../src/accounts/create-tenant.ts';
import { createStepExecutor } from '../../src/cli/executor.ts';
import type { ConnectionId } from '../../src/model/ids.ts';
import type { StepResult } from '../../src/model/step.ts';
import { readConnectionSecret } from '../../src/security/secrets/connections.ts';
import { withTenant } from '../../src/db/tenant.ts';
import { cookieOf, startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { codeConfig, gateConfig, makeRequest, never } from '../support/runner-harness.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';

const PUBLIC_URL = 'https://switchyard.test';
const run = promisify(execFile);
const workerScript = fileURLToPath(new URL('../support/oauth-refresh-worker.ts', import.meta.url));
const PASSWORD = 'a good long password';

let db: TestDatabase;
let api: TestApi;
let tenant: CreatedTenant;
let oauth: OAuth2Server;
let issuer: string;
let resource: LocalServer;
let editor: { cookie: string };
/** Refresh tokens the provider still accepts (each works once: rotation). */
const liveRefreshTokens = new Set<string>();
/** Access tokens the resource server accepts. */
const liveAccessTokens = new Set<string>();
/** Grants seen at the token endpoint, in order. */
const grants: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  oauth = new OAuth2Server();
  await oauth.issuer.keys.generate('RS256');
  await oauth.start(0, '127.0.0.1');
  const port = oauth.address().port;
  issuer = `http://127.0.0.1:${port}`;
  // Each access token unique (the mock's JWTs are otherwise equal within a second).
  oauth.service.on('beforeTokenSigning', (token: { payload: Record<string, unknown> }) => {
    token.payload.jti = randomUUID();
  });
  oauth.service.on(
    'beforeResponse',
    (
      res: { body: Record<string, unknown>; statusCode: number },
      req: { body: Record<string, string> },
    ) => {
      grants.push(req.body.grant_type ?? '');
      if (req.body.grant_type === 'refresh_token') {
        if (!liveRefreshTokens.delete(req.body.refresh_token ?? '')) {
          res.statusCode = 400;
          res.body = { error: 'invalid_grant' };
          return;
        }
      }
      if (typeof res.body.refresh_token === 'string') liveRefreshTokens.add(res.body.refresh_token);
      if (typeof res.body.access_token === 'string') liveAccessTokens.add(res.body.access_token);
    },
  );
  resource = await startServer((req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !liveAccessTokens.has(token))
      return sendJson(res, 401, { error: 'invalid_token' });
    return sendJson(res, 200, { me: 'johndoe', token });
  });
  api = await startTestApi(db, {
    PUBLIC_URL,
    GATE_ALLOW_HTTP_HOSTS: `127.0.0.1:${port}`,
  });
  tenant = await makeTenant(db.pool);
  editor = await member(`editor-${Date.now()}@example.test`, 'editor');
});
afterAll(async () => {
  await api?.close();
  await oauth?.stop();
  await resource?.close();
  await db?.drop();
});

async function member(email: string, role: string): Promise<{ cookie: string }> {
  const invited = await api.gql<{ inviteMember: { token: string } }>(
    `mutation($e: String!, $r: Role!) { inviteMember(email: $e, role: $r) { token } }`,
    { e: email, r: role },
    { token: tenant.apiToken },
  );
  expect(invited.errors).toBeUndefined();
  const accepted = await api.gql(
    `mutation($t: String!, $p: String) { acceptInvitation(token: $t, password: $p) { userId } }`,
    { t: invited.data!.inviteMember.token, p: PASSWORD },
  );
  expect(accepted.errors).toBeUndefined();
  const signedIn = await api.gql(
    `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { email } }`,
    { e: email, p: PASSWORD },
  );
  return { cookie: cookieOf(signedIn.setCookie) };
}

async function newConnection(): Promise<ConnectionId> {
  const app = await api.gql<{ createApp: { id: string } }>(
    `mutation($i: AppInput!) { createApp(input: $i) { id } }`,
    {
      i: {
        key: `prov-${Math.random().toString(36).slice(2, 8)}`,
        name: 'Provider',
        baseUrl: resource.url,
        authKind: 'oauth2_authorization_code',
        authConfig: {
          authorizeUrl: `${issuer}/authorize`,
          tokenUrl: `${issuer}/token`,
          scopes: ['openid', 'offline_access'],
          authorizeParams: { prompt: 'consent' },
        },
      },
    },
    editor,
  );
  expect(app.errors).toBeUndefined();
  const conn = await api.gql<{ createConnection: { id: string } }>(
    `mutation($a: ID!, $s: JSON) { createConnection(appId: $a, name: "c", secret: $s) { id } }`,
    { a: app.data!.createApp.id, s: { clientId: 'switchyard-client', clientSecret: 'cs-9Tq!x' } },
    editor,
  );
  expect(conn.errors).toBeUndefined();
  return conn.data!.createConnection.id as ConnectionId;
}

async function start(connectionId: string, auth = editor): Promise<string> {
  const r = await api.gql<{ startOAuthConnection: { authorizeUrl: string } }>(
    `mutation($c: ID!) { startOAuthConnection(connectionId: $c) { authorizeUrl } }`,
    { c: connectionId },
    auth,
  );
  expect(r.errors).toBeUndefined();
  return r.data!.startOAuthConnection.authorizeUrl;
}

/** The browser at the provider: auto-approved, sent back to redirect_uri (on our API). */
async function authorize(authorizeUrl: string): Promise<string> {
  const res = await fetch(authorizeUrl, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(`${back.origin}${back.pathname}`).toBe(`${PUBLIC_URL}/oauth/callback`);
  return `${api.url}/oauth/callback${back.search}`;
}

async function callback(url: string, cookie = editor.cookie): Promise<URL> {
  const res = await fetch(url, { redirect: 'manual', headers: { cookie } });
  expect(res.status).toBe(303);
  return new URL(res.headers.get('location')!);
}

async function connect(): Promise<ConnectionId> {
  const id = await newConnection();
  const done = await callback(await authorize(await start(id)));
  expect(Object.fromEntries(done.searchParams)).toEqual({ oauth: 'connected', connection: id });
  return id;
}

async function storedSecret(connectionId: ConnectionId) {
  return withTenant(db.pool, tenant.tenantId, (c) =>
    readConnectionSecret(c, api.secrets, { tenantId: tenant.tenantId, connectionId }),
  );
}

const clock = { t: Date.now(), now: () => new Date(clock.t) };

function executor(pool = db.pool) {
  return createStepExecutor({
    logger: testLogger,
    pool,
    secretBox: api.secrets,
    clock,
    config: {
      gate: gateConfig([resource.hostPort, new URL(issuer).host]),
      code: codeConfig(),
      breaker: { failureThreshold: 50, cooldownMs: 30_000 },
    },
  });
}

function step(connectionId: ConnectionId) {
  return makeRequest({
    action: {
      baseUrl: resource.url,
      implementation: { method: 'GET', path: '/me' },
      retry: { strategy: 'none', maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
    },
    step: { connectionId },
    context: { tenantId: tenant.tenantId },
  });
}

async function status(connectionId: string) {
  const r = await api.gql<{
    connections: { nodes: Array<{ id: string; status: string; statusReason: string | null }> };
  }>('{ connections(first: 100) { nodes { id status statusReason } } }', {}, editor);
  return r.data!.connections.nodes.find((c) => c.id === connectionId)!;
}

const refreshes = () => grants.filter((g) => g === 'refresh_token').length;

describe('OAuth authorization code with PKCE', () => {
  it('connects through the mutation and the callback, PKCE checked by the provider, and a step uses the token', async () => {
    const id = await newConnection();
    const url = new URL(await start(id));
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('redirect_uri')).toBe(`${PUBLIC_URL}/oauth/callback`);
    expect(url.searchParams.get('scope')).toBe('openid offline_access');
    expect(url.searchParams.get('prompt')).toBe('consent');
    const before = grants.length;
    const done = await callback(await authorize(url.toString()));
    expect(done.origin + done.pathname).toBe(`${PUBLIC_URL}/connections`);
    expect(done.searchParams.get('oauth')).toBe('connected');
    expect(grants.slice(before)).toEqual(['authorization_code']);
    const secret = await storedSecret(id);
    expect(secret).toMatchObject({ clientId: 'switchyard-client', clientSecret: 'cs-9Tq!x' });
    expect(liveAccessTokens.has(secret!.accessToken as string)).toBe(true);
    expect(liveRefreshTokens.has(secret!.refreshToken as string)).toBe(true);
    // Sealed: no token in the row's bytes.
    const raw = await db.ownerPool.query<{ secret_cipher: Buffer }>(
      'select secret_cipher from connections where id = $1',
      [id],
    );
    expect(raw.rows[0]!.secret_cipher.toString('latin1')).not.toContain(secret!.accessToken);

    const r = await executor().execute(step(id), never);
    expect(r).toMatchObject({ status: 'succeeded', output: { me: 'johndoe' } });
    expect((await status(id)).status).toBe('active');
  });

  it('validates the app’s auth config when it is saved', async () => {
    const save = (authConfig: unknown) =>
      api.gql(
        `mutation($i: AppInput!) { createApp(input: $i) { id } }`,
        {
          i: {
            key: `bad-${Math.random().toString(36).slice(2, 8)}`,
            name: 'Bad',
            authKind: 'oauth2_authorization_code',
            authConfig,
          },
        },
        editor,
      );
    for (const bad of [
      { tokenUrl: `${issuer}/token` },
      { authorizeUrl: 'not a url', tokenUrl: `${issuer}/token` },
      { authorizeUrl: `${issuer}/authorize`, tokenUrl: `${issuer}/token`, scopes: 'a b' },
      { authorizeUrl: `${issuer}/authorize`, tokenUrl: `${issuer}/token`, clientAuth: 'jwt' },
      {
        authorizeUrl: `${issuer}/authorize`,
        tokenUrl: `${issuer}/token`,
        authorizeParams: { redirect_uri: 'https://evil.example' },
      },
    ]) {
      const r = await save(bad);
      expect(r.errors?.[0]?.extensions, JSON.stringify(bad)).toMatchObject({
        code: 'E_VALIDATION',
        field: 'authConfig',
      });
    }
  });

  it('refuses a forged, replayed, expired or other user’s state, and an API token cannot start', async () => {
    const id = await newConnection();
    const forged = await callback(`${api.url}/oauth/callback?code=x&state=forged-state-value`);
    expect(forged.searchParams.get('oauth_error')).toBe('E_OAUTH_STATE_INVALID');

    const cb = await authorize(await start(id));
    const other = await member(`other-${Date.now()}@example.test`, 'editor');
    const stolen = await callback(cb, other.cookie);
    expect(stolen.searchParams.get('oauth_error')).toBe('E_OAUTH_STATE_INVALID');
    const noSession = await fetch(cb, { redirect: 'manual' });
    expect(new URL(noSession.headers.get('location')!).searchParams.get('oauth_error')).toBe(
      'E_OAUTH_STATE_INVALID',
    );
    // The rightful session still can, once.
    expect((await callback(cb)).searchParams.get('oauth')).toBe('connected');
    const replay = await callback(cb);
    expect(replay.searchParams.get('oauth_error')).toBe('E_OAUTH_STATE_USED');

    const late = await authorize(await start(id));
    await db.ownerPool.query(
      `update oauth_states set expires_at = now() - interval '1 second' where used_at is null`,
    );
    expect((await callback(late)).searchParams.get('oauth_error')).toBe('E_OAUTH_STATE_EXPIRED');

    const viaToken = await api.gql(
      `mutation($c: ID!) { startOAuthConnection(connectionId: $c) { authorizeUrl } }`,
      { c: id },
      { token: tenant.apiToken },
    );
    expect(viaToken.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    // The state is stored only hashed.
    const states = await db.ownerPool.query<{ state_hash: Buffer }>(
      'select state_hash from oauth_states',
    );
    const state = new URL(cb).searchParams.get('state')!;
    for (const s of states.rows) expect(s.state_hash.toString('utf8')).not.toContain(state);
  });

  it('refreshes before expiry and stores the rotated refresh token', async () => {
    const id = await connect();
    const first = await storedSecret(id);
    const n = refreshes();
    const ex = executor();
    expect((await ex.execute(step(id), never)).status).toBe('succeeded');
    expect(refreshes()).toBe(n);
    clock.t += 3600_000;
    expect((await ex.execute(step(id), never)).status).toBe('succeeded');
    expect(refreshes()).toBe(n + 1);
    const second = await storedSecret(id);
    expect(second!.accessToken).not.toBe(first!.accessToken);
    expect(second!.refreshToken).not.toBe(first!.refreshToken);
    expect(liveRefreshTokens.has(first!.refreshToken as string)).toBe(false);
    expect(liveRefreshTokens.has(second!.refreshToken as string)).toBe(true);
  });

  it('refreshes once on a 401 (a token revoked early)', async () => {
    const id = await connect();
    const first = await storedSecret(id);
    liveAccessTokens.delete(first!.accessToken as string);
    const n = refreshes();
    const r = await executor().execute(step(id), never);
    expect(r.status).toBe('succeeded');
    expect(refreshes()).toBe(n + 1);
    expect((await storedSecret(id))!.accessToken).not.toBe(first!.accessToken);
  });

  it('two executors on two pools refreshing at once: one refresh at the provider, both succeed', async () => {
    const id = await connect();
    clock.t += 2 * 3600_000;
    const poolB = new pg.Pool({ connectionString: db.appUrl, max: 4 });
    try {
      const n = refreshes();
      const results: StepResult[] = await Promise.all([
        executor().execute(step(id), never),
        executor(poolB).execute(step(id), never),
        executor(poolB).execute(step(id), never),
      ]);
      for (const r of results) expect(r).toMatchObject({ status: 'succeeded' });
      expect(refreshes()).toBe(n + 1);
      expect((await status(id)).status).toBe('active');
    } finally {
      await poolB.end();
    }
  });

  it('two worker processes refreshing at once: one refresh at the provider, every step succeeds', async () => {
    const id = await connect();
    const n = refreshes();
    const args = [
      workerScript,
      db.appUrl,
      tenant.tenantId,
      id,
      resource.url,
      `${resource.hostPort},${new URL(issuer).host}`,
      String(2 * 3600_000),
      '3',
    ];
    const [a, b] = await Promise.all([run(process.execPath, args), run(process.execPath, args)]);
    expect(JSON.parse(a.stdout)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(JSON.parse(b.stdout)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(refreshes()).toBe(n + 1);
    expect((await status(id)).status).toBe('active');
  }, 60_000);

  it('a refused refresh marks the connection needs_reauth, fails its steps clearly, and Connect mends it', async () => {
    const id = await connect();
    const secret = await storedSecret(id);
    liveRefreshTokens.delete(secret!.refreshToken as string);
    clock.t += 2 * 3600_000;
    const r = await executor().execute(step(id), never);
    expect(r).toMatchObject({
      status: 'failed',
      error: { code: 'E_CONNECTION_NEEDS_REAUTH', retryable: false },
    });
    expect(await status(id)).toMatchObject({ status: 'needs_reauth' });
    expect((await status(id)).statusReason).toContain('invalid_grant');
    const n = refreshes();
    const again = await executor().execute(step(id), never);
    expect(again).toMatchObject({ status: 'failed', error: { code: 'E_CONNECTION_NEEDS_REAUTH' } });
    expect(refreshes()).toBe(n);
    const audit = await db.ownerPool.query<{ action: string }>(
      `select action from audit_events where target_id = $1 order by seq`,
      [id],
    );
    expect(audit.rows.map((a) => a.action)).toContain('connection.needs_reauth');

    const done = await callback(await authorize(await start(id)));
    expect(done.searchParams.get('oauth')).toBe('connected');
    expect((await status(id)).status).toBe('active');
    expect((await executor().execute(step(id), never)).status).toBe('succeeded');
  });
});
