/**
 * systemHealth over GraphQL on runs a real worker executed: the queue while no worker runs,
 * runs per minute by outcome, p95 per action, an open circuit breaker reset by hand and
 * audited; who may read it; and that a tenant's admin never reads another tenant's figures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../../src/engine/worker.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { startTestWorker } from '../support/test-worker.ts';
import { startServer, type LocalServer } from '../support/runner-servers.ts';

let db: TestDatabase;
let api: TestApi;
let worker: Worker | undefined;
let upstream: LocalServer;
let tenantA: string;
let tenantB: string;
const tokens = { owner: '', admin: '', editor: '', otherAdmin: '' };

const HEALTH = `{ systemHealth { generatedAt since
  queue { due delayed running oldestDueSeconds }
  backlog { at waiting inFlight oldestWaitingSeconds }
  runsPerMinute { minute succeeded failed canceled dead }
  stepDurations { actionId appKey actionKey actionName attempts p95Ms }
  circuitBreakers { host connectionKey state failures openUntil }
  workers { id leaseExpiresAt running { runId stepId workflowName } }
  waitingRuns { runId until reason }
  lastRetentionPass { at deleted } } }`;

type Health = {
  queue: { due: number; delayed: number; running: number; oldestDueSeconds: number };
  backlog: { at: string; waiting: number; inFlight: number; oldestWaitingSeconds: number }[];
  runsPerMinute: Record<'succeeded' | 'failed' | 'canceled' | 'dead', number>[];
  stepDurations: { actionId: string; actionKey: string; attempts: number; p95Ms: number }[];
  circuitBreakers: { host: string; state: string; openUntil: string | null }[];
  workers: { id: string; running: unknown[] }[];
  waitingRuns: { runId: string; until: string; reason: string }[];
  lastRetentionPass: unknown;
};

async function gql<T>(query: string, vars: Record<string, unknown>, token: string): Promise<T> {
  const r = await api.gql<T>(query, vars, { token });
  expect(r.errors).toBeUndefined();
  return r.data!;
}

async function health(token: string): Promise<Health> {
  return (await gql<{ systemHealth: Health }>(HEALTH, {}, token)).systemHealth;
}

async function makeAction(
  key: string,
  code: string,
  over: Record<string, unknown> = {},
): Promise<string> {
  const app = await gql<{ createApp: { id: string } }>(
    `mutation($k: String!) { createApp(input: { key: $k, name: $k, authKind: none }) { id } }`,
    { k: `app-${key}` },
    tokens.owner,
  );
  const action = await gql<{ createAction: { id: string } }>(
    `mutation($input: ActionInput!) { createAction(input: $input) { id } }`,
    {
      input: {
        appId: app.createApp.id,
        key,
        name: key,
        kind: 'javascript',
        maxAttempts: 1,
        implementation: { code },
        ...over,
      },
    },
    tokens.owner,
  );
  return action.createAction.id;
}

/** Version 1 (one step), or version 2 with the step inside a switch's default branch. */
async function makeWorkflow(name: string, actionId: string, nested = false): Promise<string> {
  const wf = await gql<{ createWorkflow: { id: string } }>(
    `mutation($n: String!) { createWorkflow(name: $n) { id } }`,
    { n: name },
    tokens.owner,
  );
  await gql(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
    {
      w: wf.createWorkflow.id,
      d: nested
        ? {
            version: 2,
            steps: [
              {
                id: 'route',
                type: 'switch',
                branches: [{ name: 'never', when: '{{ trigger.never ?? false }}', steps: [] }],
                default: { steps: [{ id: 'only', actionId, input: {} }] },
              },
            ],
          }
        : { steps: [{ id: 'only', actionId, input: {} }] },
    },
    tokens.owner,
  );
  return wf.createWorkflow.id;
}

async function trigger(workflowId: string): Promise<string> {
  const r = await gql<{ triggerWorkflow: { run: { id: string } } }>(
    `mutation($w: ID!) { triggerWorkflow(workflowId: $w) { run { id } } }`,
    { w: workflowId },
    tokens.owner,
  );
  return r.triggerWorkflow.run.id;
}

type Run = {
  status: string;
  steps: { startedAt: string; finishedAt: string | null }[];
};
async function run(id: string): Promise<Run> {
  const r = await gql<{ run: Run }>(
    `query($id: ID!) { run(id: $id) { status steps { startedAt finishedAt } } }`,
    { id },
    tokens.owner,
  );
  return r.run;
}

/** percentile_cont(0.95): linear interpolation between the closest ranks. */
function p95(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const rank = 0.95 * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

const sum = (h: Health, k: 'succeeded' | 'failed' | 'canceled' | 'dead') =>
  h.runsPerMinute.reduce((n, m) => n + m[k], 0);

let okAction: string;
let okRuns: string[] = [];
let badRuns: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  upstream = await startServer((_req, res) => {
    res.writeHead(503).end();
  });
  const a = await makeTenant(db.pool);
  tenantA = a.tenantId;
  tokens.owner = a.apiToken;
  for (const role of ['admin', 'editor'] as const) {
    const r = await gql<{ createApiToken: { secret: string } }>(
      `mutation($role: Role!) { createApiToken(name: "t", role: $role) { secret } }`,
      { role },
      tokens.owner,
    );
    tokens[role] = r.createApiToken.secret;
  }
  const b = await makeTenant(db.pool);
  tenantB = b.tenantId;
  const r = await api.gql<{ createApiToken: { secret: string } }>(
    `mutation { createApiToken(name: "t", role: admin) { secret } }`,
    {},
    { token: b.apiToken },
  );
  tokens.otherAdmin = r.data!.createApiToken.secret;

  okAction = await makeAction('fast', 'return { ok: true };');
  const badAction = await makeAction('broken', "throw new Error('no');");
  const ok = await makeWorkflow('Fast', okAction);
  // Its step is nested in a version-2 block: the p95 per action still finds its action.
  const bad = await makeWorkflow('Broken', badAction, true);
  // No worker yet: these wait in the queue.
  okRuns = [await trigger(ok), await trigger(ok), await trigger(ok)];
  badRuns = [await trigger(bad), await trigger(bad)];
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await upstream?.close();
  await api?.close();
  await db?.drop();
});

describe('systemHealth', () => {
  it('shows the queue while no worker runs: five due jobs, the oldest waiting', async () => {
    await new Promise((r) => setTimeout(r, 1_100));
    const h = await health(tokens.admin);
    expect(h.queue).toMatchObject({ due: 5, delayed: 0, running: 0 });
    expect(h.queue.oldestDueSeconds).toBeGreaterThanOrEqual(1);
    expect(h.workers).toEqual([]);
    expect(h.backlog).toHaveLength(60);
    expect(sum(h, 'succeeded')).toBe(0);
  });

  it('counts runs per minute by outcome and the p95 per action once a worker ran them', async () => {
    worker = startTestWorker(db, { allowHttpHosts: [upstream.hostPort] });
    const all = [...okRuns, ...badRuns];
    await expect
      .poll(async () => (await Promise.all(all.map(run))).every((r) => r.steps[0]?.finishedAt), {
        timeout: 30_000,
        interval: 250,
      })
      .toBe(true);
    await expect
      .poll(async () => (await Promise.all(all.map(run))).map((r) => r.status).join(), {
        timeout: 10_000,
      })
      .toBe('succeeded,succeeded,succeeded,failed,failed');
    const h = await health(tokens.admin);
    expect(h.queue).toMatchObject({ due: 0, delayed: 0, running: 0, oldestDueSeconds: 0 });
    expect(sum(h, 'succeeded')).toBe(3);
    expect(sum(h, 'failed')).toBe(2);
    expect(sum(h, 'dead')).toBe(0);
    expect(sum(h, 'canceled')).toBe(0);
    expect(h.runsPerMinute).toHaveLength(60);

    const durations = (await Promise.all(okRuns.map(run))).map(
      (r) => Date.parse(r.steps[0]!.finishedAt!) - Date.parse(r.steps[0]!.startedAt),
    );
    const fast = h.stepDurations.find((d) => d.actionId === okAction);
    expect(fast).toMatchObject({ actionKey: 'fast', attempts: 3 });
    expect(Math.abs(fast!.p95Ms - p95(durations))).toBeLessThanOrEqual(1);
    expect(h.stepDurations.find((d) => d.actionKey === 'broken')?.attempts).toBe(2);
  }, 60_000);

  it('lists an open breaker with its retry time; an admin resets it, audited', async () => {
    const openUntil = new Date(Date.now() + 60_000);
    await db.ownerPool.query(
      `insert into circuit_breakers (tenant_id, host, connection_key, state, failures, open_until, opened_at)
       values ($1, 'api.flaky.test', '', 'open', 5, $2, now())`,
      [tenantA, openUntil],
    );
    const h = await health(tokens.admin);
    expect(h.circuitBreakers).toEqual([
      expect.objectContaining({ host: 'api.flaky.test', state: 'open' }),
    ]);
    expect(Date.parse(h.circuitBreakers[0]!.openUntil!)).toBe(openUntil.getTime());

    const refused = await api.gql(
      `mutation { resetCircuitBreaker(host: "api.flaky.test") }`,
      {},
      { token: tokens.editor },
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');

    const reset = await gql<{ resetCircuitBreaker: boolean }>(
      `mutation { resetCircuitBreaker(host: "api.flaky.test") }`,
      {},
      tokens.admin,
    );
    expect(reset.resetCircuitBreaker).toBe(true);
    expect((await health(tokens.admin)).circuitBreakers).toEqual([]);
    const audit = await db.ownerPool.query(
      `select actor_kind, target_id, metadata from audit_events
        where tenant_id = $1 and action = 'circuit_breaker.reset'`,
      [tenantA],
    );
    expect(audit.rows).toEqual([
      {
        actor_kind: 'token',
        target_id: 'api.flaky.test',
        metadata: { connectionKey: '', previousState: 'open', failures: 5 },
      },
    ]);
    const again = await api.gql(
      `mutation { resetCircuitBreaker(host: "api.flaky.test") }`,
      {},
      { token: tokens.admin },
    );
    expect(again.errors?.[0]?.extensions?.code).toBe('E_NOT_FOUND');
  });

  it('recomputes runs waiting and in flight per minute from the runs’ timestamps', async () => {
    // Every run of the tenant: created 30 min ago, started 10 min later, finished 10 min after.
    await db.ownerPool.query(
      `update workflow_runs set created_at = now() - interval '30 minutes',
              started_at = now() - interval '20 minutes', finished_at = now() - interval '10 minutes'
        where tenant_id = $1 and id = any($2::uuid[])`,
      [tenantA, [...okRuns, ...badRuns]],
    );
    const h = await health(tokens.admin);
    // Each spans exactly ten minute boundaries waiting and twenty in flight.
    expect(h.backlog.reduce((n, p) => n + p.waiting, 0)).toBe(5 * 10);
    expect(h.backlog.reduce((n, p) => n + p.inFlight, 0)).toBe(5 * 20);
    expect(Math.max(...h.backlog.map((p) => p.waiting))).toBe(5);
    const oldest = Math.max(...h.backlog.map((p) => p.oldestWaitingSeconds));
    expect(oldest).toBeGreaterThanOrEqual(540);
    expect(oldest).toBeLessThan(600);
    expect(sum(h, 'succeeded')).toBe(3);
  });

  it('lists the worker running a step, and a run waiting out its retry', async () => {
    const slow = await makeWorkflow(
      'Slow',
      await makeAction(
        'slow',
        'const end = Date.now() + 2500; while (Date.now() < end) {} return {};',
      ),
    );
    const flaky = await makeWorkflow(
      'Flaky',
      await makeAction('flaky', '', {
        kind: 'http',
        implementation: { method: 'GET', url: `${upstream.url}/status` },
        maxAttempts: 3,
        retryStrategy: 'fixed',
        initialDelayMs: 60_000,
        maxDelayMs: 60_000,
      }),
    );
    const slowRun = await trigger(slow);
    const flakyRun = await trigger(flaky);
    await expect
      .poll(async () => (await health(tokens.admin)).workers, { timeout: 10_000, interval: 100 })
      .toEqual([
        expect.objectContaining({
          running: [{ runId: slowRun, stepId: 'only', workflowName: 'Slow' }],
        }),
      ]);
    await expect
      .poll(async () => (await health(tokens.admin)).waitingRuns, { timeout: 15_000 })
      .toEqual([expect.objectContaining({ runId: flakyRun, reason: 'retry' })]);
    const h = await health(tokens.admin);
    expect(h.queue.delayed).toBe(1);
  }, 30_000);

  it('refuses members below admin', async () => {
    const r = await api.gql(`{ systemHealth { since } }`, {}, { token: tokens.editor });
    expect(r.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    expect(r.data).toBeNull();
  });

  it('never shows another tenant’s figures, nor lets its admin reset their breakers', async () => {
    await db.ownerPool.query(
      `insert into circuit_breakers (tenant_id, host, connection_key, state, failures, open_until, opened_at)
       values ($1, 'api.secret-a.test', '', 'open', 3, now() + interval '1 minute', now())`,
      [tenantA],
    );
    const other = await health(tokens.otherAdmin);
    expect(other.queue).toEqual({ due: 0, delayed: 0, running: 0, oldestDueSeconds: 0 });
    expect(other.runsPerMinute.every((m) => m.succeeded + m.failed + m.dead === 0)).toBe(true);
    expect(other.stepDurations).toEqual([]);
    expect(other.circuitBreakers).toEqual([]);
    expect(other.backlog.every((p) => p.inFlight === 0)).toBe(true);

    const reset = await api.gql(
      `mutation { resetCircuitBreaker(host: "api.secret-a.test") }`,
      {},
      { token: tokens.otherAdmin },
    );
    expect(reset.errors?.[0]?.extensions?.code).toBe('E_NOT_FOUND');
    const still = await db.ownerPool.query(
      `select state from circuit_breakers where tenant_id = $1 and host = 'api.secret-a.test'`,
      [tenantA],
    );
    expect(still.rows).toEqual([{ state: 'open' }]);
    const leaked = await db.ownerPool.query<{ n: number }>(
      `select count(*)::int as n from audit_events where tenant_id = $1 and action = 'circuit_breaker.reset'`,
      [tenantB],
    );
    expect(leaked.rows[0]!.n).toBe(0);
  });
});
