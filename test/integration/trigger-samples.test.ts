/**
 * Trigger samples: the last delivery of each trigger is kept (webhook input after header
 * stripping, even while the workflow is an unpublished draft; a run started by hand; a cron
 * fire), scrubbed of known secrets, bounded in size, and readable by editors only.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fireOne } from '../../src/engine/cron.ts';
import { createSampleRecorder, SAMPLE_MAX_BYTES } from '../../src/engine/trigger-sample.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { TenantId, TriggerId, WorkflowId } from '../../src/model/ids.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeCronTrigger } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let owner: string;
let viewer: string;
let tenantId: TenantId;
let workflowId: string;
let jsActionId: string;

function sign(body: string, key: string, id: string) {
  const ts = Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', Buffer.from(key.slice('whsec_'.length), 'base64'))
    .update(`${id}.${ts}.${body}`)
    .digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${mac}` };
}

async function gqlOk<T>(query: string, variables: Record<string, unknown> = {}, token = owner) {
  const r = await api.gql<T>(query, variables, { token });
  expect(r.errors).toBeUndefined();
  return r.data!;
}

type Sample = { payload: unknown; sizeBytes: number; receivedAt: string } | null;

async function lastSample(triggerId: string, token = owner) {
  return api.gql<{ triggers: { nodes: Array<{ id: string; lastSample: Sample }> } }>(
    `query($w: ID!) { triggers(workflowId: $w, first: 100) { nodes { id lastSample { payload sizeBytes receivedAt } } } }`,
    { w: workflowId },
    { token },
  );
}

async function sampleOf(triggerId: string): Promise<Sample> {
  const r = await lastSample(triggerId);
  expect(r.errors).toBeUndefined();
  return r.data!.triggers.nodes.find((t) => t.id === triggerId)!.lastSample;
}

async function until<T>(fn: () => Promise<T | null>): Promise<T> {
  let v: T | null = null;
  await expect.poll(async () => (v = await fn())).not.toBeNull();
  return v!;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { WEBHOOK_TRIGGER_CACHE_MS: '0' });
  const t = await makeTenant(db.pool, 'Samples');
  owner = t.apiToken;
  tenantId = t.tenantId;
  viewer = (
    await gqlOk<{ createApiToken: { secret: string } }>(
      `mutation { createApiToken(name: "look", role: viewer) { secret } }`,
    )
  ).createApiToken.secret;
  const apps = await gqlOk<{
    apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
  }>('{ apps(first: 100) { nodes { key actions { id } } } }');
  jsActionId = apps.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!.id;
  workflowId = (
    await gqlOk<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "Draft with samples") { id } }`,
    )
  ).createWorkflow.id;
  // A draft only: the workflow is not published.
  await gqlOk(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d) { version } }`,
    {
      w: workflowId,
      d: { steps: [{ id: 'noop', actionId: jsActionId, input: { code: 'return 1' } }] },
    },
  );
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

describe('webhook samples', () => {
  let trigger: { id: string; secret: string };

  beforeAll(async () => {
    const r = await gqlOk<{ createTrigger: { secret: string; trigger: { id: string } } }>(
      `mutation($w: ID!) { createTrigger(workflowId: $w, kind: webhook) { secret trigger { id } } }`,
      { w: workflowId },
    );
    trigger = { id: r.createTrigger.trigger.id, secret: r.createTrigger.secret };
  });

  async function deliver(body: string, id: string) {
    return fetch(`${api.url}/hooks/${trigger.id}?page=2`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-api-key': 'sk_live_sender_key',
        'x-order-source': 'shop',
        ...sign(body, trigger.secret, id),
      },
    });
  }

  it('has none before the first delivery', async () => {
    expect(await sampleOf(trigger.id)).toBeNull();
  });

  it('keeps a draft’s delivery as the run input would be, secrets scrubbed', async () => {
    const body = JSON.stringify({ order: 42, echoed: trigger.secret });
    const res = await deliver(body, 'msg_1');
    // The workflow is not published: no run, but the sample is what a builder tests with.
    expect(res.status).toBe(409);
    const sample = await until(() => sampleOf(trigger.id));
    const payload = sample.payload as {
      body: { order: number; echoed: string };
      headers: Record<string, string>;
      query: Record<string, string>;
    };
    expect(payload.body.order).toBe(42);
    expect(payload.body.echoed).toBe('[secret]');
    expect(payload.headers['x-order-source']).toBe('shop');
    expect(payload.headers['x-api-key']).toBeUndefined();
    expect(payload.headers['webhook-signature']).toBeUndefined();
    expect(payload.query).toEqual({ page: '2' });
    expect(sample.sizeBytes).toBeGreaterThan(0);
  });

  it('replaces it with the next delivery, and keeps only the size of a huge one', async () => {
    await deliver(JSON.stringify({ order: 43 }), 'msg_2');
    await expect
      .poll(async () => ((await sampleOf(trigger.id))?.payload as { body?: unknown })?.body)
      .toEqual({ order: 43 });
    const huge = JSON.stringify({ blob: 'x'.repeat(SAMPLE_MAX_BYTES + 10) });
    await deliver(huge, 'msg_3');
    const sample = await until(async () => {
      const s = await sampleOf(trigger.id);
      return s && s.payload === null ? s : null;
    });
    expect(sample.sizeBytes).toBeGreaterThan(SAMPLE_MAX_BYTES);
  });

  it('keeps the newest of a burst of deliveries with a few writes, not one per delivery', async () => {
    const recorder = createSampleRecorder(db.pool, createLogger({ level: 'silent' }));
    let checkouts = 0;
    const count = () => checkouts++;
    db.pool.on('acquire', count);
    try {
      const t0 = Date.now();
      for (let i = 1; i <= 300; i++) {
        recorder.record({
          tenantId,
          triggerId: trigger.id as TriggerId,
          payload: { body: { burst: i } },
          receivedAt: new Date(t0 + i),
        });
      }
      await recorder.idle();
    } finally {
      db.pool.off('acquire', count);
    }
    expect(((await sampleOf(trigger.id))?.payload as { body?: unknown })?.body).toEqual({
      burst: 300,
    });
    // The first delivery at once, the newest one when it is done: two transactions.
    expect(checkouts).toBeLessThanOrEqual(3);
  });

  it('is for editors and above: a viewer is refused', async () => {
    const r = await lastSample(trigger.id, viewer);
    expect(r.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    const plain = await api.gql<{ triggers: { nodes: Array<{ id: string }> } }>(
      `query($w: ID!) { triggers(workflowId: $w, first: 100) { nodes { id } } }`,
      { w: workflowId },
      { token: viewer },
    );
    expect(plain.errors).toBeUndefined();
  });

  it('is isolated by tenant (RLS)', async () => {
    const other = await makeTenant(db.pool, 'Other');
    const { withTenant } = await import('../../src/db/tenant.ts');
    const n = await withTenant(db.pool, other.tenantId, async (c) => {
      const r = await c.query('select count(*)::int as n from trigger_samples');
      return (r.rows[0] as { n: number }).n;
    });
    expect(n).toBe(0);
  });
});

describe('manual and cron samples', () => {
  it('keeps the input of a run started by hand for the manual trigger', async () => {
    const published = (
      await gqlOk<{ createWorkflow: { id: string } }>(
        `mutation { createWorkflow(name: "By hand") { id } }`,
      )
    ).createWorkflow.id;
    await gqlOk(
      `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { version } }`,
      {
        w: published,
        d: { steps: [{ id: 'noop', actionId: jsActionId, input: { code: 'return 1' } }] },
      },
    );
    const manual = await gqlOk<{ createTrigger: { trigger: { id: string } } }>(
      `mutation($w: ID!) { createTrigger(workflowId: $w, kind: manual) { trigger { id } } }`,
      { w: published },
    );
    await gqlOk(
      `mutation($w: ID!, $i: JSON) { triggerWorkflow(workflowId: $w, input: $i) { run { id } } }`,
      { w: published, i: { n: 7 } },
    );
    const r = await gqlOk<{ triggers: { nodes: Array<{ id: string; lastSample: Sample }> } }>(
      `query($w: ID!) { triggers(workflowId: $w, first: 100) { nodes { id lastSample { payload } } } }`,
      { w: published },
    );
    expect(
      r.triggers.nodes.find((t) => t.id === manual.createTrigger.trigger.id)!.lastSample,
    ).toEqual({
      payload: { n: 7 },
    });
  });

  it('keeps a cron fire’s payload even when the workflow cannot start runs', async () => {
    const due = new Date('2030-01-01T00:00:00.000Z');
    const triggerId = await makeCronTrigger(db.pool, tenantId, workflowId as WorkflowId, {
      expression: '* * * * *',
      nextFireAt: due,
    });
    const deps = engineDeps(db.pool, {
      clock: { now: () => new Date('2030-01-01T00:00:30.000Z') },
    });
    expect(await fireOne(deps)).toBe('fired');
    const sample = await sampleOf(triggerId);
    expect(sample?.payload).toEqual({ scheduledAt: due.toISOString(), missedTimes: 0 });
  });
});

describe('test versions (migration 0026)', () => {
  it('lets the runtime role delete test versions only', async () => {
    const { withTenant } = await import('../../src/db/tenant.ts');
    const refused = await withTenant(db.pool, tenantId, async (c) => {
      const r = await c.query('delete from workflow_versions where workflow_id = $1', [workflowId]);
      return r.rowCount;
    });
    expect(refused).toBe(0);
  });
});
