/**
 * The built-in SaaS catalogue (src/model/catalog/): every new tenant gets GitHub (token and
 * OAuth), Slack (Web API and incoming webhooks) and Stripe; each action, run by the runner
 * against a local fake of the provider, sends the request the provider documents.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionSpec, StepResult } from '../../src/model/step.ts';
import type { BuiltinApp } from '../../src/model/builtin-apps.ts';
import {
  githubApp,
  githubOAuthApp,
  slackApp,
  slackWebhookApp,
  stripeApp,
} from '../../src/model/catalog/saas-apps.ts';
import { readOAuthAppConfig } from '../../src/model/oauth.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { nullableOneOf } from '../support/openapi-validate.ts';
import {
  addConnection,
  makeHarness,
  makeRequest,
  never,
  type Harness,
} from '../support/runner-harness.ts';
import {
  sendJson,
  startServer,
  type LocalServer,
  type Recorded,
} from '../support/runner-servers.ts';

const require = createRequire(import.meta.url);
type Operation = {
  operationId: string;
  parameters?: Array<{ $ref?: string; name?: string; in?: string }>;
  requestBody?: { content: Record<string, { schema: object }> };
};
const spec = JSON.parse(
  readFileSync(require.resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8'),
) as { paths: Record<string, Record<string, Operation>> };

let db: TestDatabase;
let api: TestApi;
let fake: LocalServer;
let h: Harness;
/** What the fake answers next (per test). */
let answer: (req: Recorded) => { status: number; body: unknown; type?: string } = () => ({
  status: 200,
  body: {},
});

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  fake = await startServer((req, res) => {
    const a = answer(req);
    if (a.type) {
      res.writeHead(a.status, { 'content-type': a.type });
      res.end(String(a.body));
    } else sendJson(res, a.status, a.body);
  });
  h = makeHarness({ allow: [fake.hostPort] });
});
afterAll(async () => {
  await api?.close();
  await fake?.close();
  await db?.drop();
});

function spec4(app: BuiltinApp, key: string, baseUrl: string | null = fake.url): ActionSpec {
  const a = app.actions.find((x) => x.key === key);
  if (!a) throw new Error(`no action ${key} in ${app.key}`);
  return {
    ...makeRequest().action,
    appKey: app.key,
    key: a.key,
    kind: a.kind,
    inputSchema: a.inputSchema,
    outputSchema: a.outputSchema,
    implementation: a.implementation,
    baseUrl,
    retry: { strategy: 'none', maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
  };
}

async function run(
  app: BuiltinApp,
  key: string,
  input: unknown,
  connection: Parameters<typeof addConnection>[1],
  baseUrl: string | null = fake.url,
): Promise<StepResult> {
  const connectionId = addConnection(h, connection);
  return h.runner.execute(
    makeRequest({ action: spec4(app, key, baseUrl), step: { connectionId, input } }),
    never,
  );
}

describe('the built-in SaaS catalogue', () => {
  it('comes with every new tenant', async () => {
    const owner = (await makeTenant(db.pool, 'Catalogue')).apiToken;
    const r = await api.gql<{
      apps: {
        nodes: Array<{ key: string; isBuiltin: boolean; authKind: string; actions: unknown[] }>;
      };
    }>(
      '{ apps(first: 100) { nodes { key isBuiltin authKind actions { id } } } }',
      {},
      { token: owner },
    );
    const byKey = new Map(r.data!.apps.nodes.map((a) => [a.key, a]));
    for (const [key, authKind, count] of [
      ['github', 'bearer', 22],
      ['github-oauth', 'oauth2_authorization_code', 22],
      ['slack', 'bearer', 1],
      ['slack-webhook', 'none', 1],
      ['stripe', 'bearer', 4],
    ] as const) {
      expect(byKey.get(key)).toMatchObject({ isBuiltin: true, authKind });
      expect(byKey.get(key)?.actions).toHaveLength(count);
    }
    expect(typeof readOAuthAppConfig(githubOAuthApp.authConfig)).toBe('object');
  });

  it('GitHub: every action has the method and path of its operation in GitHub’s description', () => {
    for (const a of githubApp.actions) {
      const impl = a.implementation as { method: string; path: string; headers: unknown };
      const [path, item] =
        Object.entries(spec.paths).find(([, item]) =>
          Object.values(item).some((op) => op.operationId === a.key.replace('.', '/')),
        ) ?? [];
      expect(item, a.key).toBeDefined();
      const method = Object.entries(item!).find(
        ([, op]) => op.operationId === a.key.replace('.', '/'),
      )![0];
      expect(impl.method).toBe(method.toUpperCase());
      expect(impl.path.replace(/\{\{ input\.path\.(\w+) \}\}/g, '{$1}')).toBe(path);
      expect(impl.headers).toMatchObject({ accept: 'application/vnd.github+json' });
    }
  });

  it('GitHub: creating an issue and reading a repository send the documented requests', async () => {
    const create = spec.paths['/repos/{owner}/{repo}/issues']!.post!;
    const ajv = new Ajv({ strict: false });
    const validBody = ajv.compile(
      nullableOneOf(create.requestBody!.content['application/json']!.schema) as object,
    );
    answer = (req) =>
      req.method === 'POST'
        ? {
            status: validBody(JSON.parse(req.body)) ? 201 : 422,
            body: { id: 1, number: 7, title: 't' },
          }
        : { status: 200, body: { id: 2, name: 'hello', full_name: 'octo/hello' } };
    const made = await run(
      githubApp,
      'issues.create',
      { path: { owner: 'octo', repo: 'hello' }, body: { title: 'Bug', labels: ['bug'] } },
      { authKind: 'bearer', secret: { token: 'ghp_1' } },
    );
    expect(made).toMatchObject({ status: 'succeeded', output: { number: 7 } });
    const sent = fake.requests.at(-1)!;
    expect(sent).toMatchObject({ method: 'POST', url: '/repos/octo/hello/issues' });
    expect(sent.headers).toMatchObject({
      authorization: 'Bearer ghp_1',
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      'content-type': 'application/json',
    });
    const repo = await run(
      githubApp,
      'repos.get',
      { path: { owner: 'octo', repo: 'hello' } },
      { authKind: 'bearer', secret: { token: 'ghp_1' } },
    );
    expect(repo).toMatchObject({ status: 'succeeded', output: { full_name: 'octo/hello' } });
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'GET',
      url: '/repos/octo/hello',
      body: '',
    });
  });

  it('Slack: chat.postMessage with the bot token, and a refusal inside a 200 fails the step', async () => {
    answer = () => ({ status: 200, body: { ok: true, channel: 'C1', ts: '1700000000.000100' } });
    const posted = await run(
      slackApp,
      'chat.post_message',
      { channel: 'C1', text: 'Deployed *v2*' },
      { authKind: 'bearer', secret: { token: 'xoxb-1' } },
    );
    expect(posted).toMatchObject({
      status: 'succeeded',
      output: { ok: true, ts: '1700000000.000100' },
    });
    const sent = fake.requests.at(-1)!;
    expect(sent).toMatchObject({ method: 'POST', url: '/chat.postMessage' });
    expect(sent.headers).toMatchObject({
      authorization: 'Bearer xoxb-1',
      'content-type': 'application/json; charset=utf-8',
    });
    expect(JSON.parse(sent.body)).toEqual({ channel: 'C1', text: 'Deployed *v2*' });

    answer = () => ({ status: 200, body: { ok: false, error: 'channel_not_found' } });
    const refused = await run(
      slackApp,
      'chat.post_message',
      { channel: 'C404', text: 'x' },
      { authKind: 'bearer', secret: { token: 'xoxb-1' } },
    );
    expect(refused).toMatchObject({ status: 'failed', error: { code: 'E_STEP_OUTPUT_INVALID' } });
    const empty = await run(
      slackApp,
      'chat.post_message',
      { channel: 'C1' },
      { authKind: 'bearer', secret: { token: 'xoxb-1' } },
    );
    expect(empty).toMatchObject({ status: 'failed', error: { code: 'E_STEP_INPUT_INVALID' } });
  });

  it('Slack: an incoming webhook gets the message as JSON at its URL', async () => {
    answer = () => ({ status: 200, body: 'ok', type: 'text/plain' });
    const sent = await run(
      slackWebhookApp,
      'send',
      { text: 'Hello' },
      { authKind: 'none', secret: { webhookUrl: `${fake.url}/services/T1/B1/secret` } },
      null,
    );
    expect(sent).toMatchObject({ status: 'succeeded', output: 'ok' });
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'POST',
      url: '/services/T1/B1/secret',
      body: '{"text":"Hello"}',
    });
    expect(fake.requests.at(-1)!.headers['content-type']).toBe('application/json');

    // The URL is the credential: a receiver that echoes it back in an error does not get it
    // stored with the step, and a connection without it says what to set, without a value.
    const hookUrl = `${fake.url}/services/T1/B1/secret`;
    answer = () => ({ status: 404, body: `no such hook: ${hookUrl}`, type: 'text/plain' });
    const echoed = await run(
      slackWebhookApp,
      'send',
      { text: 'Hello' },
      { authKind: 'none', secret: { webhookUrl: hookUrl } },
      null,
    );
    expect(echoed.status).toBe('failed');
    expect(JSON.stringify(echoed)).not.toContain('/services/T1/B1/secret');
    const missing = await run(
      slackWebhookApp,
      'send',
      { text: 'Hello' },
      { authKind: 'none', config: { webhookUrl: hookUrl } },
      null,
    );
    expect(missing).toMatchObject({ status: 'failed', error: { code: 'E_CONNECTION_INVALID' } });
    expect(JSON.stringify(missing)).toMatch(/secret\.webhookUrl/);
  });

  it('Stripe: form-encoded bodies with the secret key and an idempotency key', async () => {
    answer = (req) =>
      req.url.startsWith('/v1/payment_intents')
        ? { status: 200, body: { id: 'pi_1', object: 'payment_intent' } }
        : { status: 200, body: { id: 'cus_1', object: 'customer' } };
    const stripe = { authKind: 'bearer' as const, secret: { token: 'sk_test_1' } };
    const customer = await run(
      stripeApp,
      'customers.create',
      { email: 'a@b.test', name: 'Ann' },
      stripe,
    );
    expect(customer).toMatchObject({ status: 'succeeded', output: { id: 'cus_1' } });
    let sent = fake.requests.at(-1)!;
    expect(sent).toMatchObject({ method: 'POST', url: '/v1/customers' });
    expect(sent.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent.headers.authorization).toBe('Bearer sk_test_1');
    expect(sent.headers['idempotency-key']).toBeTruthy();
    expect(Object.fromEntries(new URLSearchParams(sent.body))).toEqual({
      email: 'a@b.test',
      name: 'Ann',
    });

    const intent = await run(
      stripeApp,
      'payment_intents.create',
      { amount: 2000, currency: 'eur', 'automatic_payment_methods[enabled]': true },
      stripe,
    );
    expect(intent).toMatchObject({ status: 'succeeded', output: { object: 'payment_intent' } });
    sent = fake.requests.at(-1)!;
    expect(sent.body).toBe('amount=2000&currency=eur&automatic_payment_methods%5Benabled%5D=true');

    const read = await run(stripeApp, 'customers.retrieve', { id: 'cus_1' }, stripe);
    expect(read).toMatchObject({ status: 'succeeded' });
    expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', url: '/v1/customers/cus_1' });
  });
});
