/**
 * A signed webhook through the real API starts a run that the engine's worker completes with
 * the runner (a JavaScript step); redeliveries, bad signatures, disabled triggers, oversized
 * bodies and secret rotation behave as documented.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepExecutor } from '../../src/cli/executor.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { Worker } from '../../src/engine/worker.ts';
import { signedHeaders } from '../support/webhook-signing.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let worker: Worker;
let owner: string;
let otherOwner: string;
let triggerId: string;
let secret: string;
let workflowId: string;

const sign = signedHeaders;

async function post(path: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${api.url}${path}`, { method: 'POST', body, headers });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    headers: res.headers,
  };
}

async function waitForRun(runId: string, timeoutMs = 20_000) {
  const started = Date.now();
  for (;;) {
    const r = await api.gql<{
      run: { status: string; output: unknown; steps: Array<{ status: string; output: unknown }> };
    }>(
      `query($id: ID!) { run(id: $id) { status output steps { status output } } }`,
      { id: runId },
      { token: owner },
    );
    const run = r.data?.run;
    if (run && ['succeeded', 'failed', 'dead', 'canceled'].includes(run.status)) return run;
    if (Date.now() - started > timeoutMs)
      throw new Error(`run ${runId} still ${run?.status} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  // No trigger cache: disabling and rotating take effect at once (with the cache: within 5 s).
  api = await startTestApi(db, { WEBHOOK_MAX_BODY_BYTES: '2048', WEBHOOK_TRIGGER_CACHE_MS: '0' });
  const config = loadConfig({});
  worker = api.engine.createWorker({
    executor: createStepExecutor({
      logger: testLogger,
      pool: db.pool,
      config: config.runner,
      secretBox: api.secrets,
    }),
    listenUrl: db.appUrl,
  });
  worker.start();
  owner = (await makeTenant(db.pool, 'Hooks')).apiToken;
  otherOwner = (await makeTenant(db.pool, 'Other')).apiToken;

  const actions = await api.gql<{
    apps: { nodes: Array<{ key: string; actions: Array<{ id: string; key: string }> }> };
  }>('{ apps(first: 100) { nodes { key actions { id key } } } }', {}, { token: owner });
  const js = actions
    .data!.apps.nodes.find((a) => a.key === 'javascript')!
    .actions.find((a) => a.key === 'run')!;
  const wf = await api.gql<{ createWorkflow: { id: string } }>(
    `mutation { createWorkflow(name: "Double") { id } }`,
    {},
    { token: owner },
  );
  workflowId = wf.data!.createWorkflow.id;
  const saved = await api.gql(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { version } }`,
    {
      w: workflowId,
      d: {
        steps: [
          {
            id: 'double',
            actionId: js.id,
            input: {
              code: 'console.log("doubling", input.n); return { doubled: input.n * 2 };',
              n: '{{ trigger.body.n }}',
            },
          },
        ],
      },
    },
    { token: owner },
  );
  expect(saved.errors).toBeUndefined();
  const trig = await api.gql<{
    createTrigger: { secret: string; trigger: { id: string; webhookUrl: string } };
  }>(
    `mutation($w: ID!) { createTrigger(workflowId: $w, kind: webhook) { secret trigger { id webhookUrl } } }`,
    { w: workflowId },
    { token: owner },
  );
  expect(trig.errors).toBeUndefined();
  triggerId = trig.data!.createTrigger.trigger.id;
  secret = trig.data!.createTrigger.secret;
  expect(secret).toMatch(/^whsec_/);
  expect(trig.data!.createTrigger.trigger.webhookUrl).toMatch(new RegExp(`/hooks/${triggerId}$`));
});

afterAll(async () => {
  await worker.stop();
  await api.close();
  await db.drop();
});

describe('webhook ingress', () => {
  it('answers 202 with the run id, and the run completes through the runner', async () => {
    const body = JSON.stringify({ n: 21 });
    const res = await post(`/hooks/${triggerId}`, body, sign(body, secret, 'msg_1'));
    expect(res.status).toBe(202);
    const runId = String(res.body.runId);
    const run = await waitForRun(runId);
    expect(run.status).toBe('succeeded');
    expect(run.steps[0]?.output).toEqual({ doubled: 42 });
    // The step's console output is in the run's execution log, linked to its step run.
    const logs = await api.gql<{
      run: {
        steps: Array<{ id: string }>;
        logs: Array<{ message: string; stepRunId: string | null }>;
      };
    }>(
      `query($id: ID!) { run(id: $id) { steps { id } logs(search: "doubling") { message stepRunId } } }`,
      { id: runId },
      { token: owner },
    );
    expect(logs.data?.run.logs).toEqual([
      {
        message: expect.stringContaining('doubling 21') as unknown,
        stepRunId: logs.data?.run.steps[0]?.id,
      },
    ]);

    const again = await post(`/hooks/${triggerId}`, body, sign(body, secret, 'msg_1'));
    expect(again).toMatchObject({ status: 200, body: { runId, duplicate: true } });
  });

  it('concurrent deliveries and redeliveries: one run each; an unstorable body fails alone', async () => {
    const deliveries = Array.from({ length: 30 }, (_, i) => {
      const body = JSON.stringify({ n: i });
      return { body, headers: sign(body, secret, `burst_${i}`) };
    });
    const nul = JSON.stringify({ n: 'nul \u0000' });
    const answers = await Promise.all([
      ...[...deliveries, ...deliveries].map((d) => post(`/hooks/${triggerId}`, d.body, d.headers)),
      post(`/hooks/${triggerId}`, nul, sign(nul, secret, 'burst_nul')),
    ]);
    const bad = answers.pop()!;
    expect(bad).toMatchObject({ status: 400, body: { code: 'E_VALIDATION' } });
    for (let i = 0; i < 30; i++) {
      const pair = [answers[i]!, answers[i + 30]!];
      expect(pair.map((a) => a.status).sort()).toEqual([200, 202]);
      expect(pair[0]!.body.runId).toBe(pair[1]!.body.runId);
    }
    const runIds = answers.slice(0, 30).map((a) => String(a.body.runId));
    expect(new Set(runIds).size).toBe(30);
    const stored = await db.ownerPool.query<{ n: number }>(
      `select count(*)::int as n from workflow_runs r
        where r.id = any($1) and exists (select 1 from idempotency_keys k where k.run_id = r.id)`,
      [runIds],
    );
    expect(stored.rows[0]?.n).toBe(30);
  });

  it('refuses unsigned, tampered and stale deliveries with 401 and stores no run', async () => {
    const before = await db.ownerPool.query<{ n: number }>(
      'select count(*)::int as n from workflow_runs',
    );
    const body = JSON.stringify({ n: 1 });
    expect(
      (await post(`/hooks/${triggerId}`, body, { 'content-type': 'application/json' })).status,
    ).toBe(401);
    expect(
      (await post(`/hooks/${triggerId}`, JSON.stringify({ n: 2 }), sign(body, secret, 'msg_2')))
        .status,
    ).toBe(401);
    const stale = await post(
      `/hooks/${triggerId}`,
      body,
      sign(body, secret, 'msg_3', Math.floor(Date.now() / 1000) - 600),
    );
    expect(stale).toMatchObject({ status: 401, body: { code: 'E_WEBHOOK_SIGNATURE' } });
    const after = await db.ownerPool.query<{ n: number }>(
      'select count(*)::int as n from workflow_runs',
    );
    expect(after.rows[0]?.n).toBe(before.rows[0]?.n);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_webhook_requests_total\{outcome="bad_signature"\} 1/);
    expect(metrics).toMatch(/switchyard_webhook_requests_total\{outcome="unsigned"\} 1/);
  });

  it('answers 404 for unknown or disabled triggers and 413 for oversized bodies', async () => {
    const body = JSON.stringify({ n: 1 });
    expect(
      (await post('/hooks/00000000-0000-4000-8000-000000000000', body, sign(body, secret, 'm')))
        .status,
    ).toBe(404);
    expect((await post('/hooks/not-a-uuid', body, sign(body, secret, 'm'))).status).toBe(404);
    const big = JSON.stringify({ n: 1, pad: 'x'.repeat(4096) });
    expect((await post(`/hooks/${triggerId}`, big, sign(big, secret, 'm-big'))).status).toBe(413);
    const disabled = await api.gql(
      `mutation($id: ID!) { updateTrigger(id: $id, name: "", enabled: false) { enabled } }`,
      { id: triggerId },
      { token: owner },
    );
    expect(disabled.errors).toBeUndefined();
    expect((await post(`/hooks/${triggerId}`, body, sign(body, secret, 'm-disabled'))).status).toBe(
      404,
    );
    await api.gql(
      `mutation($id: ID!) { updateTrigger(id: $id, name: "", enabled: true) { enabled } }`,
      { id: triggerId },
      { token: owner },
    );
  });

  it('keeps the previous secret valid during a rotation overlap, and only then', async () => {
    const rotated = await api.gql<{ rotateWebhookSecret: { secret: string } }>(
      `mutation($id: ID!) { rotateWebhookSecret(id: $id, previousValidForMs: 60000) { secret } }`,
      { id: triggerId },
      { token: owner },
    );
    const next = rotated.data!.rotateWebhookSecret.secret;
    expect(next).not.toBe(secret);
    const body = JSON.stringify({ n: 5 });
    expect((await post(`/hooks/${triggerId}`, body, sign(body, secret, 'rot-old'))).status).toBe(
      202,
    );
    expect((await post(`/hooks/${triggerId}`, body, sign(body, next, 'rot-new'))).status).toBe(202);
    await api.gql(
      `mutation($id: ID!) { rotateWebhookSecret(id: $id, previousValidForMs: 0) { secret } }`,
      { id: triggerId },
      { token: owner },
    );
    expect((await post(`/hooks/${triggerId}`, body, sign(body, next, 'rot-after'))).status).toBe(
      401,
    );
  });

  it('keeps tenants apart: another tenant cannot see or change this trigger or its runs', async () => {
    const seen = await api.gql<{ triggers: { nodes: unknown[] }; runs: { nodes: unknown[] } }>(
      '{ triggers { nodes { id } } runs { nodes { id } } }',
      {},
      { token: otherOwner },
    );
    expect(seen.data).toEqual({ triggers: { nodes: [] }, runs: { nodes: [] } });
    const rotate = await api.gql(
      `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`,
      { id: triggerId },
      { token: otherOwner },
    );
    expect(rotate.errors?.[0]?.extensions?.code).toBe('E_NOT_FOUND');
  });

  it('starts runs by hand with an idempotency key and pages through them with filters', async () => {
    const START = `mutation($w: ID!, $i: JSON, $k: String) { triggerWorkflow(workflowId: $w, input: $i, idempotencyKey: $k) { duplicate run { id status } } }`;
    const first = await api.gql<{ triggerWorkflow: { duplicate: boolean; run: { id: string } } }>(
      START,
      { w: workflowId, i: { body: { n: 4 } }, k: 'k1' },
      { token: owner },
    );
    expect(first.data?.triggerWorkflow.duplicate).toBe(false);
    const dup = await api.gql<{ triggerWorkflow: { duplicate: boolean; run: { id: string } } }>(
      START,
      { w: workflowId, i: { body: { n: 4 } }, k: 'k1' },
      { token: owner },
    );
    expect(dup.data?.triggerWorkflow).toEqual({
      duplicate: true,
      run: { id: first.data!.triggerWorkflow.run.id, status: expect.any(String) as unknown },
    });
    const conflict = await api.gql(
      START,
      { w: workflowId, i: { body: { n: 5 } }, k: 'k1' },
      { token: owner },
    );
    expect(conflict.errors?.[0]?.extensions?.code).toBe('E_IDEMPOTENCY_CONFLICT');
    await waitForRun(first.data!.triggerWorkflow.run.id);

    const page1 = await api.gql<{
      runs: { nodes: Array<{ id: string }>; endCursor: string; hasNextPage: boolean };
    }>(
      `{ runs(first: 2, filter: { statuses: [succeeded] }) { nodes { id } endCursor hasNextPage } }`,
      {},
      { token: owner },
    );
    expect(page1.data?.runs.nodes).toHaveLength(2);
    expect(page1.data?.runs.hasNextPage).toBe(true);
    const page2 = await api.gql<{ runs: { nodes: Array<{ id: string }> } }>(
      `query($a: String) { runs(first: 2, after: $a, filter: { statuses: [succeeded] }) { nodes { id } } }`,
      { a: page1.data!.runs.endCursor },
      { token: owner },
    );
    const ids = [...page1.data!.runs.nodes, ...page2.data!.runs.nodes].map((n) => n.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
