/**
 * The canary through the product API: a secret planted in a connection (create and update)
 * is used by a real step against a local server that echoes it back and fails; the canary
 * must not appear in any GraphQL answer, in the server's logs, or in any stored row outside
 * the cipher column.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepExecutor } from '../../src/cli/executor.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { Worker } from '../../src/engine/worker.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { startServer, type LocalServer } from '../support/runner-servers.ts';

const CANARY = `canary-${randomBytes(12).toString('hex')}`;
const forms = (v: string) => [
  v,
  Buffer.from(v).toString('base64'),
  Buffer.from(v).toString('base64url'),
  Buffer.from(v).toString('hex'),
];
const needles = [...forms(CANARY), ...forms(`Bearer ${CANARY}`)];
const leaks = (text: string) => needles.filter((n) => text.includes(n));

let db: TestDatabase;
let api: TestApi;
let worker: Worker;
let upstream: LocalServer;
let token: string;
const logLines: string[] = [];
const answers: string[] = [];

async function gql<T>(query: string, variables: Record<string, unknown> = {}) {
  const r = await api.gql<T>(query, variables, { token });
  answers.push(JSON.stringify(r));
  return r;
}

beforeAll(async () => {
  db = await createTestDatabase();
  // The upstream echoes the credentials it received, then fails: the worst case for a leak.
  upstream = await startServer((req, res) => {
    res.statusCode = 500;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ error: 'boom', youSent: req.headers.authorization }));
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ level: 'debug', name: 'canary' }, sink);
  const env = { GATE_ALLOW_HTTP_HOSTS: upstream.hostPort };
  api = await startTestApi(db, env, logger);
  const config = loadConfig(env);
  worker = api.engine.createWorker({
    executor: createStepExecutor({
      logger,
      pool: db.pool,
      config: config.runner,
      secretBox: api.secrets,
    }),
    listenUrl: db.appUrl,
  });
  worker.start();
  token = (await makeTenant(db.pool, 'Canary')).apiToken;
});

afterAll(async () => {
  await worker.stop();
  await api.close();
  await upstream.close();
  await db.drop();
});

describe('secrets through the product API (canary)', () => {
  it('never returns, logs or stores a connection secret in clear', async () => {
    const app = await gql<{ createApp: { id: string } }>(
      `mutation($i: AppInput!) { createApp(input: $i) { id } }`,
      {
        i: {
          key: 'echo',
          name: 'Echo',
          baseUrl: upstream.url,
          authKind: 'bearer',
          connectionSchema: { type: 'object' },
        },
      },
    );
    const appId = app.data!.createApp.id;
    const conn = await gql<{ createConnection: { id: string; hasSecret: boolean } }>(
      `mutation($a: ID!, $s: JSON) { createConnection(appId: $a, name: "prod", secret: $s) { id hasSecret } }`,
      { a: appId, s: { token: `${CANARY}-old` } },
    );
    expect(conn.data?.createConnection.hasSecret).toBe(true);
    const connectionId = conn.data!.createConnection.id;
    await gql(
      `mutation($id: ID!, $s: JSON) { updateConnection(id: $id, name: "prod", secret: $s) { id } }`,
      { id: connectionId, s: { token: CANARY } },
    );
    const action = await gql<{ createAction: { id: string } }>(
      `mutation($i: ActionInput!) { createAction(input: $i) { id } }`,
      {
        i: {
          appId,
          key: 'get',
          name: 'Get',
          kind: 'http',
          implementation: { method: 'GET', path: '/thing' },
          retryStrategy: 'none',
          maxAttempts: 1,
        },
      },
    );
    const wf = await gql<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "leaky") { id } }`,
    );
    const workflowId = wf.data!.createWorkflow.id;
    const saved = await gql(
      `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
      {
        w: workflowId,
        d: {
          steps: [{ id: 'get', actionId: action.data!.createAction.id, connectionId, input: {} }],
        },
      },
    );
    expect(saved.errors).toBeUndefined();
    const started = await gql<{ triggerWorkflow: { run: { id: string } } }>(
      `mutation($w: ID!) { triggerWorkflow(workflowId: $w) { run { id } } }`,
      { w: workflowId },
    );
    const runId = started.data!.triggerWorkflow.run.id;

    let status = '';
    for (let i = 0; i < 200 && !['dead', 'failed', 'succeeded'].includes(status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await gql<{ run: { status: string } }>(
        `query($id: ID!) { run(id: $id) { status error steps { input output errorCode errorMessage } logs { message data } } }`,
        { id: runId },
      );
      status = r.data?.run.status ?? '';
    }
    expect(status).toMatch(/dead|failed/);
    // The upstream did receive the secret: the step really used it.
    expect(upstream.requests.some((r) => r.headers.authorization === `Bearer ${CANARY}`)).toBe(
      true,
    );

    await gql(
      '{ connections(first: 100) { nodes { id name config hasSecret } } deadLetters { nodes { error context } } auditEvents(first: 100) { nodes { metadata } } }',
    );
    await api.flush();
    await gql('{ accessLog(first: 100) { nodes { operationName outcome } } }');

    expect(answers.flatMap(leaks)).toEqual([]);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.flatMap(leaks)).toEqual([]);
    const tables = await db.ownerPool.query<{ relname: string }>(
      `select relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') and not relispartition`,
    );
    for (const { relname } of tables.rows) {
      const rows = await db.ownerPool.query<{ row: string }>(
        `select to_jsonb(t)::text as row from ${relname} t`,
      );
      expect({ table: relname, leaks: rows.rows.flatMap((r) => leaks(r.row)) }).toEqual({
        table: relname,
        leaks: [],
      });
    }
  }, 60_000);
});
