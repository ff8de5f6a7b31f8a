/**
 * Issue 11.3: an upstream that echoes the request must not get the connection's secret
 * stored. Runs go through the engine's worker and the composition root's executor against an
 * echoing local server; every auth kind's secret (and its wire forms: basic-auth base64, the
 * bearer header, URL-encoded query values, OAuth tokens fetched or cached) must come back
 * `[secret]` in step inputs and outputs, the run's output and error, the dead letter and the
 * execution log — in the database rows and through GraphQL as a viewer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepExecutor } from '../../src/cli/executor.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker } from '../../src/engine/worker.ts';
import type { RunId, TenantId } from '../../src/model/ids.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { codeConfig, gateConfig } from '../support/runner-harness.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';
import {
  insertAction,
  insertApp,
  insertConnection,
  publishWorkflow,
  waitForRunEnd,
} from '../support/runner-workflows.ts';
import { testSecretBox } from '../support/security-fixtures.ts';

const BEARER = 'bt-Z9qL2mX8vR4kW1';
const BASIC_USER = 'ann';
const BASIC_PASSWORD = 'pw-N7c!Q2@x z';
const HEADER_KEY = 'ak-H3d9Lq2Pz8Ty';
const QUERY_KEY = 'aq/K7+z=9&x y~';
const CLIENT_ID = 'cid-4Fh8Ju';
const CLIENT_SECRET = 'cs-Ty7&Wq/2 Lp';
const ACCESS_TOKEN = 'oat-Mv3Xq8Rt2Lk9Pz';
const REFRESH_TOKEN = 'ort-Jf6Wb1Nc4Ys7Hd';

/** Every form in which a secret could have been stored. */
const leakForms: string[] = (() => {
  const raw = [
    BEARER,
    BASIC_PASSWORD,
    HEADER_KEY,
    QUERY_KEY,
    CLIENT_SECRET,
    ACCESS_TOKEN,
    REFRESH_TOKEN,
  ];
  const forms = new Set<string>();
  for (const s of raw) {
    forms.add(s);
    forms.add(encodeURIComponent(s));
    forms.add(new URLSearchParams({ v: s }).toString().slice(2));
    forms.add(JSON.stringify(s).slice(1, -1));
  }
  forms.add(Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64'));
  forms.add(
    Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString(
      'base64',
    ),
  );
  return [...forms];
})();

function leaksIn(text: string): string[] {
  return leakForms.filter((f) => text.includes(f));
}

let db: TestDatabase;
let echo: LocalServer;
let api: TestApi;
beforeAll(async () => {
  db = await createTestDatabase();
  echo = await startServer((req, res) => {
    const echoed = { method: req.method, url: req.url, headers: req.headers, body: req.body };
    if (req.url === '/token')
      return sendJson(res, 200, {
        access_token: ACCESS_TOKEN,
        refresh_token: REFRESH_TOKEN,
        token_type: 'bearer',
        expires_in: 3600,
      });
    if (req.url.startsWith('/fail')) return sendJson(res, 503, echoed);
    return sendJson(res, 200, echoed);
  });
  api = await startTestApi(db);
});
afterAll(async () => {
  await api.close();
  await echo.close();
  await db.drop();
});

async function setUp(tenantId: TenantId) {
  const box = testSecretBox();
  const app = (key: string, authKind: string, authConfig: unknown = {}) =>
    insertApp(db.pool, tenantId, { key, baseUrl: echo.url, authKind, authConfig });
  const bearerApp = await app('bearer', 'bearer');
  const basicApp = await app('basic', 'basic');
  const headerApp = await app('header', 'api_key', { in: 'header', name: 'X-Api-Key' });
  const queryApp = await app('query', 'api_key', { in: 'query', name: 'api_key' });
  const oauthApp = await app('oauth', 'oauth2_client_credentials', {
    tokenUrl: `${echo.url}/token`,
  });
  const echoAction = (appId: typeof bearerApp, path = '/echo', retryStrategy = 'fixed') =>
    insertAction(db.pool, tenantId, appId, {
      kind: 'http',
      implementation: { method: 'POST', path, body: { note: 'hello' } },
      retryStrategy: retryStrategy as 'fixed' | 'none',
    });
  const conn = (appId: typeof bearerApp, secret: Record<string, string>) =>
    insertConnection(db.pool, box, tenantId, appId, secret);
  return {
    box,
    bearer: {
      actionId: await echoAction(bearerApp),
      connectionId: await conn(bearerApp, { token: BEARER }),
    },
    bearerFail: await echoAction(bearerApp, '/fail', 'none'),
    basic: {
      actionId: await echoAction(basicApp),
      connectionId: await conn(basicApp, { username: BASIC_USER, password: BASIC_PASSWORD }),
    },
    header: {
      actionId: await echoAction(headerApp),
      connectionId: await conn(headerApp, { apiKey: HEADER_KEY }),
    },
    query: {
      actionId: await echoAction(queryApp),
      connectionId: await conn(queryApp, { apiKey: QUERY_KEY }),
    },
    oauth: {
      actionId: await echoAction(oauthApp),
      connectionId: await conn(oauthApp, { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }),
    },
    code: await insertAction(db.pool, tenantId, await app('code', 'none'), {
      kind: 'javascript',
      implementation: {
        code: 'console.log("got", JSON.stringify(input)); console.warn(input.leaked); return input;',
      },
    }),
  };
}

/** Everything a run left in the database, as text (the run's own input excluded: the caller's). */
async function storedText(runId: RunId): Promise<string> {
  const q = (sql: string) => db.ownerPool.query(sql, [runId]).then((r) => JSON.stringify(r.rows));
  return [
    await q('select output, error from workflow_runs where id = $1'),
    await q('select input, output, error_message from step_runs where run_id = $1'),
    await q('select error, context from dead_letters where run_id = $1'),
    await q('select message, data from execution_logs where run_id = $1'),
  ].join('\n');
}

async function viewerToken(ownerToken: string): Promise<string> {
  const r = await api.gql<{ createApiToken: { secret: string } }>(
    'mutation { createApiToken(name: "viewer", role: viewer) { secret } }',
    {},
    { token: ownerToken },
  );
  return r.data!.createApiToken.secret;
}

const RUN_QUERY = `query ($id: ID!) { run(id: $id) {
  status output error
  steps { stepId status input output errorMessage }
  logs(first: 100) { message data }
} }`;

describe('secrets echoed by an upstream are scrubbed before anything is stored', () => {
  it('every auth kind, the OAuth token fetched and cached, and a code step: step rows, run output, logs, GraphQL', async () => {
    const t = await makeTenant(db.pool);
    const s = await setUp(t.tenantId);
    const workflowId = await publishWorkflow(db.pool, t.tenantId, [
      { id: 'bearer', ...s.bearer },
      { id: 'basic', ...s.basic },
      { id: 'header', ...s.header },
      { id: 'query', ...s.query },
      { id: 'oauth', ...s.oauth },
      // The same connection again: the token now comes from the cache, not a token response.
      { id: 'oauthCached', ...s.oauth },
      {
        id: 'code',
        actionId: s.code,
        connectionId: s.bearer.connectionId,
        // A secret a code step got as input (here from the trigger) is scrubbed from what it
        // logs and returns.
        input: { leaked: '{{ trigger.body.token }}', earlier: '{{ steps.bearer.output }}' },
      },
    ]);
    const executor = createStepExecutor({
      logger: testLogger,
      pool: db.pool,
      secretBox: s.box,
      config: {
        gate: gateConfig([echo.hostPort]),
        code: codeConfig(),
        breaker: { failureThreshold: 5, cooldownMs: 30_000 },
      },
    });
    const deps = engineDeps(db.pool);
    const worker = createWorker(deps, { executor, listenUrl: db.appUrl });
    worker.start();
    try {
      const { runId } = await startRun(deps, {
        tenantId: t.tenantId,
        workflowId,
        input: { body: { token: BEARER } },
      });
      const run = await waitForRunEnd(db.ownerPool, runId);
      expect(run.status).toBe('succeeded');

      // The upstream did get every secret (auth works) …
      const sent = JSON.stringify(echo.requests);
      expect(sent).toContain(`Bearer ${BEARER}`);
      expect(sent).toContain(`Bearer ${ACCESS_TOKEN}`);
      expect(sent).toContain(new URLSearchParams({ api_key: QUERY_KEY }).toString());
      // … and none of it, in any form, was stored.
      const stored = await storedText(runId);
      expect(leaksIn(stored)).toEqual([]);
      const output = run.output as Record<string, { headers: Record<string, string>; url: string }>;
      expect(output.bearer!.headers.authorization).toBe('[secret]');
      expect(output.basic!.headers.authorization).toBe('[secret]');
      expect(output.header!.headers['x-api-key']).toBe('[secret]');
      expect(output.query!.url).toBe('/echo?api_key=[secret]');
      expect(output.oauth!.headers.authorization).toBe('[secret]');
      expect(output.oauthCached!.headers.authorization).toBe('[secret]');
      expect(output.code).toMatchObject({ leaked: '[secret]' });
      expect(stored).toContain('got {');

      const viewer = await viewerToken(t.apiToken);
      const seen = await api.gql(RUN_QUERY, { id: runId }, { token: viewer });
      expect(seen.errors).toBeUndefined();
      expect(JSON.stringify(seen.data)).toContain('[secret]');
      expect(leaksIn(JSON.stringify(seen.data))).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  it('a dead-lettered run: error, run context and earlier outputs in the dead letter', async () => {
    const t = await makeTenant(db.pool);
    const s = await setUp(t.tenantId);
    const workflowId = await publishWorkflow(db.pool, t.tenantId, [
      { id: 'basic', ...s.basic },
      { id: 'fails', actionId: s.bearerFail, connectionId: s.bearer.connectionId },
    ]);
    const executor = createStepExecutor({
      logger: testLogger,
      pool: db.pool,
      secretBox: s.box,
      config: {
        gate: gateConfig([echo.hostPort]),
        code: codeConfig(),
        breaker: { failureThreshold: 5, cooldownMs: 30_000 },
      },
    });
    const deps = engineDeps(db.pool);
    const worker = createWorker(deps, { executor, listenUrl: db.appUrl });
    worker.start();
    try {
      const { runId } = await startRun(deps, {
        tenantId: t.tenantId,
        workflowId,
        input: { body: {} },
      });
      const run = await waitForRunEnd(db.ownerPool, runId);
      expect(run.status).toBe('dead');
      const stored = await storedText(runId);
      expect(stored).toContain('E_UPSTREAM_UNAVAILABLE');
      expect(leaksIn(stored)).toEqual([]);

      const viewer = await viewerToken(t.apiToken);
      const seen = await api.gql(
        `{ deadLetters { nodes { runId error context } } }`,
        {},
        { token: viewer },
      );
      expect(seen.errors).toBeUndefined();
      const text = JSON.stringify(seen.data);
      expect(text).toContain(runId);
      expect(text).toContain('[secret]');
      expect(leaksIn(text)).toEqual([]);
      const runSeen = await api.gql(RUN_QUERY, { id: runId }, { token: viewer });
      expect(leaksIn(JSON.stringify(runSeen.data))).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});
