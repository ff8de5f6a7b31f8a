/**
 * Testing a draft before publishing: testWorkflow runs an unsaved definition through the real
 * queue and worker as a test run (the trigger's sample or a given input), every step's input,
 * output and logs on the run; pinned steps are not called; testStep runs one step with the
 * earlier outputs given. Test runs stay out of the default runs list, the metrics and the dead
 * letters, try each step once, and retention purges them after RETENTION_TEST_RUN_HOURS.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsObserver } from '../../src/cli/engine-metrics.ts';
import { createStepExecutor, dbLogSink } from '../../src/cli/executor.ts';
import { withPinnedOutputs } from '../../src/cli/pinned-executor.ts';
import { defaultRetentionConfig } from '../../src/config/retention.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import type { AppId, TenantId } from '../../src/model/ids.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { runRetention } from '../../src/retention/run.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { codeConfig, gateConfig } from '../support/runner-harness.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';
import { insertAction, insertApp } from '../support/runner-workflows.ts';

let db: TestDatabase;
let api: TestApi;
let fakeApi: LocalServer;
let worker: Worker;
const metrics = createMetrics();
let owner: string;
let tenantId: TenantId;
let workflowId: string;
let jsActionId: string;
let httpActionId: string;
let failingActionId: string;

type StepRun = {
  stepId: string;
  status: string;
  attempt: number;
  input: unknown;
  output: unknown;
  errorCode: string | null;
};
type TestRun = {
  id: string;
  status: string;
  isTest: boolean;
  triggerId: string | null;
  input: unknown;
  pinnedStepIds: string[];
  steps: StepRun[];
  logs: Array<{ message: string }>;
};
const runFields = `id status isTest triggerId input pinnedStepIds
  steps { stepId status attempt input output errorCode } logs { message }`;

async function gqlOk<T>(query: string, variables: Record<string, unknown> = {}) {
  const r = await api.gql<T>(query, variables, { token: owner });
  expect(r.errors).toBeUndefined();
  return r.data!;
}

async function finished(runId: string): Promise<TestRun> {
  let run: TestRun | undefined;
  await expect
    .poll(
      async () => {
        run = (
          await gqlOk<{ run: TestRun }>(`query($id: ID!) { run(id: $id) { ${runFields} } }`, {
            id: runId,
          })
        ).run;
        return run.status;
      },
      { timeout: 20_000 },
    )
    .toMatch(/succeeded|failed|dead/);
  return run!;
}

function draft(extra: Array<Record<string, unknown>> = []) {
  return {
    steps: [
      {
        id: 'shape',
        actionId: jsActionId,
        input: {
          code: 'console.log("order", input.order); return { total: input.order * 2 };',
          order: '{{ trigger.body.order }}',
        },
      },
      {
        id: 'post',
        actionId: httpActionId,
        input: { total: '{{ steps.shape.output.total }}' },
      },
      ...extra,
    ],
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { WEBHOOK_TRIGGER_CACHE_MS: '0' });
  fakeApi = await startServer((req, res) =>
    sendJson(res, 200, { received: JSON.parse(req.body || 'null') as unknown }),
  );
  const t = await makeTenant(db.pool, 'Tester');
  owner = t.apiToken;
  tenantId = t.tenantId;
  const apps = await gqlOk<{
    apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
  }>('{ apps(first: 100) { nodes { key actions { id } } } }');
  jsActionId = apps.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!.id;
  const appId: AppId = await insertApp(db.pool, tenantId, { key: 'fake', baseUrl: fakeApi.url });
  httpActionId = await insertAction(db.pool, tenantId, appId, {
    kind: 'http',
    implementation: { method: 'POST', path: '/orders', body: { total: '{{ input.total }}' } },
  });
  failingActionId = await insertAction(db.pool, tenantId, appId, {
    kind: 'http',
    implementation: { method: 'GET', path: '/missing', url: 'http://127.0.0.1:9/nothing' },
    retryStrategy: 'exponential',
    maxAttempts: 5,
    initialDelayMs: 60_000,
  });
  workflowId = (
    await gqlOk<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "Orders") { id } }`,
    )
  ).createWorkflow.id;
  const executor = createStepExecutor({
    logger: testLogger,
    pool: db.pool,
    config: {
      gate: gateConfig([fakeApi.hostPort, '127.0.0.1:9']),
      code: codeConfig({ timeoutMs: 5_000 }),
      breaker: { failureThreshold: 100, cooldownMs: 1_000 },
    },
  });
  worker = createWorker(engineDeps(db.pool), {
    executor: withPinnedOutputs(executor, dbLogSink(db.pool, { now: () => new Date() })),
    listenUrl: db.appUrl,
    observer: metricsObserver(metrics),
  });
  worker.start();
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await fakeApi?.close();
  await db?.drop();
});

const testWorkflow = `mutation($w: ID!, $d: JSON!, $i: JSON, $s: ID, $p: JSON) {
  testWorkflow(workflowId: $w, definition: $d, input: $i, useTriggerSample: $s, pinnedOutputs: $p) { id isTest status } }`;

describe('testWorkflow', () => {
  let triggerId: string;
  let firstRunId: string;

  it('refuses a trigger sample before the trigger received anything', async () => {
    const r = await gqlOk<{ createTrigger: { secret: string; trigger: { id: string } } }>(
      `mutation($w: ID!) { createTrigger(workflowId: $w, kind: webhook) { secret trigger { id } } }`,
      { w: workflowId },
    );
    triggerId = r.createTrigger.trigger.id;
    const refused = await api.gql(
      testWorkflow,
      { w: workflowId, d: draft(), s: triggerId },
      { token: owner },
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('E_NO_TRIGGER_SAMPLE');
    // A delivery to the unpublished draft: no run, but now a sample.
    const body = JSON.stringify({ order: 21 });
    const ts = Math.floor(Date.now() / 1000);
    const mac = createHmac('sha256', Buffer.from(r.createTrigger.secret.slice(6), 'base64'))
      .update(`msg_1.${ts}.${body}`)
      .digest('base64');
    const res = await fetch(`${api.url}/hooks/${triggerId}`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(ts),
        'webhook-signature': `v1,${mac}`,
      },
    });
    expect(res.status).toBe(409);
  });

  it('runs an unpublished draft with the trigger’s sample: every step’s input, output and logs', async () => {
    await expect
      .poll(
        async () =>
          (
            await api.gql(
              testWorkflow,
              { w: workflowId, d: draft(), s: triggerId },
              { token: owner },
            )
          ).errors?.[0]?.extensions?.code ?? 'ok',
      )
      .not.toBe('E_NO_TRIGGER_SAMPLE');
    const started = await gqlOk<{ runs: { nodes: Array<{ id: string }> } }>(
      `query($f: RunFilter) { runs(filter: $f) { nodes { id } } }`,
      { f: { workflowId, isTest: true } },
    );
    firstRunId = started.runs.nodes[0]!.id;
    const run = await finished(firstRunId);
    expect(run.status).toBe('succeeded');
    expect(run.isTest).toBe(true);
    expect(run.triggerId).toBe(triggerId);
    expect((run.input as { body: unknown }).body).toEqual({ order: 21 });
    const [shape, post] = run.steps;
    expect(shape).toMatchObject({ stepId: 'shape', status: 'succeeded', output: { total: 42 } });
    expect(post).toMatchObject({
      stepId: 'post',
      status: 'succeeded',
      input: { total: 42 },
      output: { received: { total: 42 } },
    });
    expect(run.logs.map((l) => l.message).join('\n')).toContain('order 21');
    expect(run.pinnedStepIds).toEqual([]);
    expect(fakeApi.requests).toHaveLength(1);
  });

  it('does not call a pinned step: its pinned output is used and later steps see it', async () => {
    const d = draft([
      {
        id: 'after',
        actionId: jsActionId,
        input: { code: 'return input.got;', got: '{{ steps.post.output.received.total }}' },
      },
    ]);
    const r = await gqlOk<{ testWorkflow: { id: string; isTest: boolean } }>(testWorkflow, {
      w: workflowId,
      d,
      i: { body: { order: 5 } },
      p: { post: { received: { total: 999 } } },
    });
    const run = await finished(r.testWorkflow.id);
    expect(run.status).toBe('succeeded');
    expect(run.pinnedStepIds).toEqual(['post']);
    const post = run.steps.find((s) => s.stepId === 'post')!;
    expect(post).toMatchObject({
      status: 'succeeded',
      input: { total: 10 },
      output: { received: { total: 999 } },
    });
    expect(run.steps.find((s) => s.stepId === 'after')!.output).toBe(999);
    expect(run.logs.map((l) => l.message).join('\n')).toContain('step post pinned');
    expect(fakeApi.requests).toHaveLength(1);
  });

  it('validates pins and keeps them out of saved versions', async () => {
    const unknownStep = await api.gql(
      testWorkflow,
      { w: workflowId, d: draft(), p: { nope: 1 } },
      { token: owner },
    );
    expect(unknownStep.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'pinnedOutputs.nope',
    });
    const huge = await api.gql(
      testWorkflow,
      { w: workflowId, d: draft(), p: { post: 'x'.repeat(300_000) } },
      { token: owner },
    );
    expect(huge.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'pinnedOutputs.post',
    });
    const d = draft();
    (d.steps[1] as Record<string, unknown>).pinnedOutput = { received: 1 };
    const saved = await api.gql(
      `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
      { w: workflowId, d },
      { token: owner },
    );
    expect(saved.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'definition.steps[1].pinnedOutput',
    });
  });

  it('leaves test runs and their drafts out of lists, versions and publishing', async () => {
    const all = await gqlOk<{ runs: { nodes: Array<{ id: string }> } }>(
      `{ runs { nodes { id } } }`,
    );
    expect(all.runs.nodes).toEqual([]);
    const wf = await gqlOk<{ workflow: { versions: unknown[] } }>(
      `query($id: ID!) { workflow(id: $id) { versions { version } } }`,
      { id: workflowId },
    );
    expect(wf.workflow.versions).toEqual([]);
    const testVersion = (
      await db.ownerPool.query<{ workflow_version_id: string }>(
        'select workflow_version_id from workflow_runs where id = $1',
        [firstRunId],
      )
    ).rows[0]!.workflow_version_id;
    const publish = await api.gql(
      `mutation($v: ID!) { publishWorkflowVersion(versionId: $v) { id } }`,
      { v: testVersion },
      { token: owner },
    );
    expect(publish.errors?.[0]?.extensions?.code).toBe('E_VALIDATION');
  });

  it('tries a failing step once, leaves no dead letter and counts nothing in the metrics', async () => {
    const r = await gqlOk<{ testWorkflow: { id: string } }>(testWorkflow, {
      w: workflowId,
      d: { steps: [{ id: 'broken', actionId: failingActionId, input: {} }] },
      i: {},
    });
    const run = await finished(r.testWorkflow.id);
    expect(run.status).toMatch(/failed|dead/);
    expect(run.steps).toHaveLength(1);
    const letters = await db.ownerPool.query('select 1 from dead_letters where run_id = $1', [
      run.id,
    ]);
    expect(letters.rowCount).toBe(0);
    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/switchyard_step_attempts_total\{[^}]*\} [1-9]/);
  });
});

describe('who may test a draft', () => {
  it('refuses viewers, and another tenant even with the right workflow id and a trigger of it', async () => {
    const viewer = await gqlOk<{ createApiToken: { secret: string } }>(
      `mutation { createApiToken(name: "watcher", role: viewer) { secret } }`,
    );
    const asViewer = await api.gql(
      testWorkflow,
      { w: workflowId, d: draft(), i: { order: 1 } },
      { token: viewer.createApiToken.secret },
    );
    expect(asViewer.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    const other = await makeTenant(db.pool, 'Other');
    const crossing = await api.gql(
      testWorkflow,
      { w: workflowId, d: draft(), i: { order: 1 } },
      { token: other.apiToken },
    );
    expect(crossing.errors?.[0]?.extensions?.code).toBe('E_NOT_FOUND');
    const runs = await db.ownerPool.query<{ n: number }>(
      'select count(*)::int as n from workflow_runs where tenant_id = $1',
      [other.tenantId],
    );
    expect(runs.rows[0]!.n).toBe(0);
  });
});

describe('testStep', () => {
  it('runs one step for real with the earlier outputs given, and nothing after it', async () => {
    const before = fakeApi.requests.length;
    const r = await gqlOk<{ testStep: { id: string } }>(
      `mutation($w: ID!, $d: JSON!, $o: JSON) { testStep(workflowId: $w, definition: $d, stepId: "post", stepOutputs: $o) { id } }`,
      {
        w: workflowId,
        d: draft([{ id: 'after', actionId: jsActionId, input: { code: 'return 1' } }]),
        o: { shape: { total: 7 } },
      },
    );
    const run = await finished(r.testStep.id);
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => s.stepId)).toEqual(['shape', 'post']);
    expect(run.pinnedStepIds).toEqual(['shape']);
    expect(run.steps[1]).toMatchObject({ input: { total: 7 }, output: { received: { total: 7 } } });
    expect(fakeApi.requests.length).toBe(before + 1);
  });

  it('names an unknown step', async () => {
    const r = await api.gql(
      `mutation($w: ID!, $d: JSON!) { testStep(workflowId: $w, definition: $d, stepId: "ghost") { id } }`,
      { w: workflowId, d: draft() },
      { token: owner },
    );
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'stepId' });
  });
});

describe('retention', () => {
  it('purges finished test runs and their drafts after RETENTION_TEST_RUN_HOURS', async () => {
    const count = async () =>
      (
        await db.ownerPool.query<{ n: number }>(
          'select count(*)::int as n from workflow_runs where is_test and tenant_id = $1',
          [tenantId],
        )
      ).rows[0]!.n;
    expect(await count()).toBeGreaterThan(0);
    const deps = {
      pool: db.pool,
      config: defaultRetentionConfig(),
      logger: testLogger,
      clock: { now: () => new Date(Date.now() + 23 * 3_600_000) },
    };
    await runRetention(deps, { dryRun: false });
    expect(await count()).toBeGreaterThan(0);
    await runRetention(
      { ...deps, clock: { now: () => new Date(Date.now() + 25 * 3_600_000) } },
      { dryRun: false },
    );
    expect(await count()).toBe(0);
    const versions = await db.ownerPool.query(
      'select 1 from workflow_versions where is_test and tenant_id = $1',
      [tenantId],
    );
    expect(versions.rowCount).toBe(0);
  });
});
