/**
 * What a webhook delivery leaves in its run: credential and signature headers never reach the
 * run input (unless the trigger keeps them by name), a signed body that claims JSON and does
 * not parse is refused with 400, and a trigger whose stored secret cannot be decrypted fails
 * closed with its own code, also in the access history.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let owner: string;
let workflowId: string;

function sign(body: string, key: string, id: string) {
  const ts = Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', Buffer.from(key.slice('whsec_'.length), 'base64'))
    .update(`${id}.${ts}.${body}`)
    .digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${mac}` };
}

async function post(triggerId: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${api.url}/hooks/${triggerId}`, { method: 'POST', body, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function createWebhook(config: Record<string, unknown> = {}) {
  const r = await api.gql<{ createTrigger: { secret: string; trigger: { id: string } } }>(
    `mutation($w: ID!, $c: JSON) { createTrigger(workflowId: $w, kind: webhook, config: $c) { secret trigger { id } } }`,
    { w: workflowId, c: config },
    { token: owner },
  );
  expect(r.errors).toBeUndefined();
  return { id: r.data!.createTrigger.trigger.id, secret: r.data!.createTrigger.secret };
}

async function runInput(runId: string) {
  const r = await api.gql<{ run: { input: { headers: Record<string, string>; body: unknown } } }>(
    `query($id: ID!) { run(id: $id) { input } }`,
    { id: runId },
    { token: owner },
  );
  return r.data!.run.input;
}

const credentialHeaders = {
  'x-api-key': 'sk_live_sender_key',
  'x-hub-signature-256': 'sha256=00',
  'stripe-signature': 't=1,v1=00',
  'x-auth-token': 'tok_sender',
  'proxy-authorization': 'Basic c2VjcmV0',
  'my-secret-header': 'hush',
  authorization: 'Bearer sender',
  cookie: 'session=abc',
};

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { WEBHOOK_TRIGGER_CACHE_MS: '0' });
  owner = (await makeTenant(db.pool, 'Ingress')).apiToken;
  const apps = await api.gql<{
    apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
  }>('{ apps(first: 100) { nodes { key actions { id } } } }', {}, { token: owner });
  const js = apps.data!.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!;
  const wf = await api.gql<{ createWorkflow: { id: string } }>(
    `mutation { createWorkflow(name: "Ingress") { id } }`,
    {},
    { token: owner },
  );
  workflowId = wf.data!.createWorkflow.id;
  const saved = await api.gql(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { version } }`,
    { w: workflowId, d: { steps: [{ id: 'noop', actionId: js.id, input: { code: 'return 1' } }] } },
    { token: owner },
  );
  expect(saved.errors).toBeUndefined();
});

afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('webhook run input', () => {
  it('drops every header that looks like a credential or signature, keeps the rest', async () => {
    const hook = await createWebhook();
    const body = JSON.stringify({ n: 1 });
    const res = await post(hook.id, body, {
      ...credentialHeaders,
      ...sign(body, hook.secret, 'msg_strip'),
      'content-type': 'application/json',
      'x-github-event': 'push',
      'idempotency-key': 'k-1',
    });
    expect(res.status).toBe(202);
    const input = await runInput(String(res.body.runId));
    expect(input.body).toEqual({ n: 1 });
    for (const name of [...Object.keys(credentialHeaders), 'webhook-signature'])
      expect(input.headers, name).not.toHaveProperty(name);
    expect(input.headers).toMatchObject({ 'x-github-event': 'push', 'webhook-id': 'msg_strip' });
    expect(input.headers['idempotency-key']).toBe('k-1');
    expect(JSON.stringify(input)).not.toMatch(/sk_live_sender_key|tok_sender|hush/);
  });

  it('keeps the headers a trigger names in config.keepHeaders, and only those', async () => {
    const hook = await createWebhook({ keepHeaders: ['X-Api-Key', 'my-secret-header'] });
    const body = JSON.stringify({ n: 2 });
    const res = await post(hook.id, body, {
      ...credentialHeaders,
      ...sign(body, hook.secret, 'msg_keep'),
      'content-type': 'application/json',
    });
    expect(res.status).toBe(202);
    const input = await runInput(String(res.body.runId));
    expect(input.headers['x-api-key']).toBe('sk_live_sender_key');
    expect(input.headers['my-secret-header']).toBe('hush');
    expect(input.headers).not.toHaveProperty('x-auth-token');
    expect(input.headers).not.toHaveProperty('authorization');

    const bad = await api.gql(
      `mutation($w: ID!, $c: JSON) { createTrigger(workflowId: $w, kind: webhook, config: $c) { secret } }`,
      { w: workflowId, c: { keepHeaders: ['x api key'] } },
      { token: owner },
    );
    expect(bad.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'config.keepHeaders[0]',
    });
    // A misspelt setting is refused rather than silently replaced by its default.
    const misspelt = await api.gql(
      `mutation($w: ID!, $c: JSON) { createTrigger(workflowId: $w, kind: webhook, config: $c) { secret } }`,
      { w: workflowId, c: { scheme: 'github' } },
      { token: owner },
    );
    expect(misspelt.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'config.scheme',
    });
  });

  it('answers 400 E_VALIDATION for a signed body that says JSON and does not parse; 401 first when unsigned', async () => {
    const hook = await createWebhook();
    const before = await db.ownerPool.query<{ n: number }>(
      'select count(*)::int as n from workflow_runs',
    );
    const body = '{"n": 1,';
    const unsigned = await post(hook.id, body, { 'content-type': 'application/json' });
    expect(unsigned).toMatchObject({ status: 401, body: { code: 'E_WEBHOOK_SIGNATURE' } });
    const signed = await post(hook.id, body, {
      ...sign(body, hook.secret, 'msg_badjson'),
      'content-type': 'application/json; charset=utf-8',
    });
    expect(signed).toMatchObject({
      status: 400,
      body: { code: 'E_VALIDATION', message: expect.stringContaining('not valid JSON') as unknown },
    });
    const vendor = await post(hook.id, body, {
      ...sign(body, hook.secret, 'msg_badjson2'),
      'content-type': 'application/vnd.api+json',
    });
    expect(vendor.status).toBe(400);
    const after = await db.ownerPool.query<{ n: number }>(
      'select count(*)::int as n from workflow_runs',
    );
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);

    // The same bytes as text/plain are a string body; an empty JSON body is null.
    const text = await post(hook.id, body, {
      ...sign(body, hook.secret, 'msg_text'),
      'content-type': 'text/plain',
    });
    expect(text.status).toBe(202);
    expect((await runInput(String(text.body.runId))).body).toBe(body);
    const empty = await post(hook.id, '', {
      ...sign('', hook.secret, 'msg_empty'),
      'content-type': 'application/json',
    });
    expect(empty.status).toBe(202);
    expect((await runInput(String(empty.body.runId))).body).toBeNull();
  });

  it('fails closed with E_WEBHOOK_SECRET_UNREADABLE when the stored secret does not decrypt', async () => {
    const hook = await createWebhook();
    // A flipped byte in the ciphertext: authentication fails (as with a retired key).
    await db.ownerPool.query(
      `update triggers set webhook_secret_cipher =
         overlay(webhook_secret_cipher placing '\\xff'::bytea from length(webhook_secret_cipher) - 2 for 1)
       where id = $1`,
      [hook.id],
    );
    const body = JSON.stringify({ n: 3 });
    const res = await post(hook.id, body, {
      ...sign(body, hook.secret, 'msg_unreadable'),
      'content-type': 'application/json',
    });
    expect(res).toMatchObject({ status: 500, body: { code: 'E_WEBHOOK_SECRET_UNREADABLE' } });
    expect(JSON.stringify(res.body)).not.toContain(hook.secret);
    await api.flush();
    const log = await api.gql<{
      accessLog: {
        nodes: Array<{ operationKind: string; operationName: string; outcome: string }>;
      };
    }>(
      '{ accessLog(first: 100) { nodes { operationKind operationName outcome } } }',
      {},
      { token: owner },
    );
    expect(log.data!.accessLog.nodes).toContainEqual({
      operationKind: 'webhook',
      operationName: hook.id,
      outcome: 'secret_unreadable',
    });
  });
});
