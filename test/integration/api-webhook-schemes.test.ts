/** GitHub and Stripe signature schemes through the ingress route, and introspection switched off. */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let owner: string;
let workflowId: string;

async function webhookTrigger(
  scheme: 'github' | 'stripe',
): Promise<{ id: string; secret: string }> {
  const r = await api.gql<{ createTrigger: { secret: string; trigger: { id: string } } }>(
    `mutation($w: ID!, $c: JSON) { createTrigger(workflowId: $w, kind: webhook, config: $c) { secret trigger { id } } }`,
    { w: workflowId, c: { signatureScheme: scheme } },
    { token: owner },
  );
  expect(r.errors).toBeUndefined();
  return { id: r.data!.createTrigger.trigger.id, secret: r.data!.createTrigger.secret };
}

async function post(triggerId: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${api.url}/hooks/${triggerId}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { WEBHOOK_TRIGGER_CACHE_MS: '0', GRAPHQL_INTROSPECTION: 'false' });
  owner = (await makeTenant(db.pool, 'Schemes')).apiToken;
  const apps = await api.gql<{
    apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
  }>('{ apps(first: 100) { nodes { key actions { id } } } }', {}, { token: owner });
  const js = apps.data!.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!;
  const wf = await api.gql<{ createWorkflow: { id: string } }>(
    `mutation { createWorkflow(name: "schemes") { id } }`,
    {},
    { token: owner },
  );
  workflowId = wf.data!.createWorkflow.id;
  await api.gql(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
    { w: workflowId, d: { steps: [{ id: 's', actionId: js.id, input: { code: 'return 1;' } }] } },
    { token: owner },
  );
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('webhook signature schemes through the route', () => {
  it('accepts a GitHub delivery, dedupes by X-GitHub-Delivery, and refuses a wrong signature', async () => {
    const t = await webhookTrigger('github');
    const body = JSON.stringify({ action: 'opened' });
    const sig = `sha256=${createHmac('sha256', t.secret).update(body).digest('hex')}`;
    const first = await post(t.id, body, {
      'x-hub-signature-256': sig,
      'x-github-delivery': 'gh-1',
    });
    expect(first.status).toBe(202);
    const again = await post(t.id, body, {
      'x-hub-signature-256': sig,
      'x-github-delivery': 'gh-1',
    });
    expect(again).toEqual({ status: 200, body: { runId: first.body.runId, duplicate: true } });
    const wrong = await post(t.id, body, {
      'x-hub-signature-256': `sha256=${'0'.repeat(64)}`,
      'x-github-delivery': 'gh-2',
    });
    expect(wrong.status).toBe(401);
  });

  it('accepts a Stripe delivery keyed by the event id, and refuses a stale one', async () => {
    const t = await webhookTrigger('stripe');
    const body = JSON.stringify({ id: 'evt_42', type: 'invoice.paid' });
    const ts = Math.floor(Date.now() / 1000);
    const sign = (at: number) =>
      `t=${at},v1=${createHmac('sha256', t.secret).update(`${at}.${body}`).digest('hex')}`;
    const first = await post(t.id, body, { 'stripe-signature': sign(ts) });
    expect(first.status).toBe(202);
    const again = await post(t.id, body, { 'stripe-signature': sign(ts + 1) });
    expect(again).toEqual({ status: 200, body: { runId: first.body.runId, duplicate: true } });
    const stale = await post(t.id, body, { 'stripe-signature': sign(ts - 3600) });
    expect(stale.status).toBe(401);
  });

  it('refuses introspection when GRAPHQL_INTROSPECTION=false, and still answers queries', async () => {
    const intro = await api.gql('{ __schema { types { name } } }', {}, { token: owner });
    expect(intro.errors?.[0]?.extensions?.code).toBe('E_VALIDATION');
    expect(intro.errors?.[0]?.message).toMatch(/introspection/i);
    // Every error carries a registry code, parse and validation failures included.
    const unparsable = await api.gql('{ viewer { kind ', {}, { token: owner });
    expect(unparsable.errors?.[0]?.extensions?.code).toBe('E_VALIDATION');
    const unknownField = await api.gql('{ viewer { shoeSize } }', {}, { token: owner });
    expect(unknownField.errors?.[0]?.extensions?.code).toBe('E_VALIDATION');
    const ok = await api.gql<{ viewer: { kind: string } }>(
      '{ viewer { kind } }',
      {},
      { token: owner },
    );
    expect(ok.data?.viewer.kind).toBe('token');
  });
});
