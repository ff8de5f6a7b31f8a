/**
 * Provider presets with event filters: a GitHub trigger that runs only on `issues.opened`
 * (event from X-GitHub-Event + the payload's action) and a Stripe trigger that runs only on
 * `invoice.paid` (event from the payload's type, Stripe-Signature with its timestamp
 * tolerance). A verified delivery of another event is answered 200, counted on the trigger
 * (Trigger.filteredEvents) and starts no run; a forged one is still refused.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchesFilter } from '../../src/api/webhooks/event-filter.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let owner: string;
let workflowId: string;

async function webhookTrigger(config: Record<string, unknown>) {
  const r = await api.gql<{ createTrigger: { secret: string; trigger: { id: string } } }>(
    `mutation($w: ID!, $c: JSON) { createTrigger(workflowId: $w, kind: webhook, config: $c) { secret trigger { id } } }`,
    { w: workflowId, c: config },
    { token: owner },
  );
  return r;
}

async function post(triggerId: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${api.url}/hooks/${triggerId}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function runCount(triggerId: string): Promise<number> {
  const r = await db.ownerPool.query<{ n: number }>(
    'select count(*)::int as n from workflow_runs where trigger_id = $1',
    [triggerId],
  );
  return r.rows[0]!.n;
}

async function filteredEvents(triggerId: string) {
  const r = await api.gql<{
    triggers: {
      nodes: Array<{
        id: string;
        filteredEvents: Array<{ event: string; deliveries: number; lastDeliveryId: string | null }>;
      }>;
    };
  }>(
    `query($w: ID) { triggers(workflowId: $w, first: 100) { nodes { id filteredEvents { event deliveries lastDeliveryId } } } }`,
    { w: workflowId },
    { token: owner },
  );
  return r.data!.triggers.nodes.find((t) => t.id === triggerId)!.filteredEvents;
}

const github = (secret: string, body: string, event: string, delivery: string) => ({
  'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  'x-github-event': event,
  'x-github-delivery': delivery,
});

const stripe = (secret: string, body: string, ts = Math.floor(Date.now() / 1000)) => ({
  'stripe-signature': `t=${ts},v1=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`,
});

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { WEBHOOK_TRIGGER_CACHE_MS: '0' });
  owner = (await makeTenant(db.pool, 'Presets')).apiToken;
  const apps = await api.gql<{
    apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
  }>('{ apps(first: 100) { nodes { key actions { id } } } }', {}, { token: owner });
  const js = apps.data!.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!;
  const wf = await api.gql<{ createWorkflow: { id: string } }>(
    `mutation { createWorkflow(name: "presets") { id } }`,
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

describe('webhook presets with an event filter', () => {
  it('GitHub: runs on issues.opened only; other events are answered 200, counted, and start nothing', async () => {
    const made = await webhookTrigger({ signatureScheme: 'github', events: ['issues.opened'] });
    expect(made.errors).toBeUndefined();
    const t = { id: made.data!.createTrigger.trigger.id, secret: made.data!.createTrigger.secret };

    const opened = JSON.stringify({ action: 'opened', issue: { number: 1 } });
    const ran = await post(t.id, opened, github(t.secret, opened, 'issues', 'd-1'));
    expect(ran.status).toBe(202);

    const closed = JSON.stringify({ action: 'closed', issue: { number: 1 } });
    const skipped = await post(t.id, closed, github(t.secret, closed, 'issues', 'd-2'));
    expect(skipped).toEqual({ status: 200, body: { filtered: true, event: 'issues.closed' } });
    const push = JSON.stringify({ ref: 'refs/heads/main' });
    await post(t.id, push, github(t.secret, push, 'push', 'd-3'));
    await post(t.id, push, github(t.secret, push, 'push', 'd-4'));
    // Filtering comes after verification: a forged delivery is still refused.
    const forged = await post(t.id, closed, {
      ...github('wrong', closed, 'issues', 'd-5'),
    });
    expect(forged.status).toBe(401);

    expect(await runCount(t.id)).toBe(1);
    expect(await filteredEvents(t.id)).toEqual([
      { event: 'push', deliveries: 2, lastDeliveryId: 'd-4' },
      { event: 'issues.closed', deliveries: 1, lastDeliveryId: 'd-2' },
    ]);
  });

  it('Stripe: runs on invoice.paid only, within the timestamp tolerance', async () => {
    const made = await webhookTrigger({ signatureScheme: 'stripe', events: ['invoice.paid'] });
    const t = { id: made.data!.createTrigger.trigger.id, secret: made.data!.createTrigger.secret };
    const paid = JSON.stringify({ id: 'evt_1', type: 'invoice.paid', data: { object: {} } });
    expect((await post(t.id, paid, stripe(t.secret, paid))).status).toBe(202);
    const failed = JSON.stringify({ id: 'evt_2', type: 'invoice.payment_failed' });
    expect(await post(t.id, failed, stripe(t.secret, failed))).toEqual({
      status: 200,
      body: { filtered: true, event: 'invoice.payment_failed' },
    });
    const stale = await post(
      t.id,
      paid,
      stripe(t.secret, paid, Math.floor(Date.now() / 1000) - 600),
    );
    expect(stale.status).toBe(401);
    expect(await runCount(t.id)).toBe(1);
    expect(await filteredEvents(t.id)).toEqual([
      { event: 'invoice.payment_failed', deliveries: 1, lastDeliveryId: 'evt_2' },
    ]);
  });

  it('validates the filter, and matches names, prefixes and *', async () => {
    const bad = await webhookTrigger({ signatureScheme: 'github', events: ['issues opened'] });
    expect(bad.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'config.events[0]',
    });
    const empty = await webhookTrigger({ signatureScheme: 'stripe', events: [] });
    expect(empty.errors?.[0]?.extensions).toMatchObject({ field: 'config.events' });
    expect(matchesFilter('issues.opened', ['issues.*'])).toBe(true);
    expect(matchesFilter('issues', ['issues.*'])).toBe(true);
    expect(matchesFilter('issue_comment.created', ['issues.*'])).toBe(false);
    expect(matchesFilter('anything', ['*'])).toBe(true);
    expect(matchesFilter('invoice.paid', ['invoice.payment_failed'])).toBe(false);
  });
});
