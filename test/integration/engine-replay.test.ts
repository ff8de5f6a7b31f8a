/**
 * Replays and other run mutations through the real API, engine and runner, against a recording
 * upstream that counts its calls: a dead letter is replayed once (a second replay answers the
 * first), a new replay only when asked for (`again`), and every replay sends the original run's
 * Idempotency-Key; a run that ends `failed` is replayable too; cancelling a finished run is a
 * conflict; a cron trigger's first time is planned when it is created and fires at that tick.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepExecutor } from '../../src/cli/executor.ts';
import { fireOne } from '../../src/engine/cron.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import { withTenant } from '../../src/db/tenant.ts';
import type { ActionId, RunId, TenantId, WorkflowId } from '../../src/model/ids.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps, fakeClock, makeWorkflow, waitFor } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { codeConfig, gateConfig } from '../support/runner-harness.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';

let db: TestDatabase;
let api: TestApi;
let upstream: LocalServer;
let worker: Worker;
let tenantId: TenantId;
let token: string;
let mode: 'down' | 'reject' | 'up' = 'down';

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  upstream = await startServer((_req, res) => {
    if (mode === 'down') sendJson(res, 503, { error: 'maintenance' });
    else if (mode === 'reject') sendJson(res, 400, { error: 'bad account' });
    else sendJson(res, 200, { charged: true });
  });
  const t = await makeTenant(db.pool);
  tenantId = t.tenantId;
  token = t.apiToken;
  const executor = createStepExecutor({
    logger: testLogger,
    pool: db.pool,
    config: {
      gate: gateConfig([upstream.hostPort]),
      code: codeConfig(),
      breaker: { failureThreshold: 100, cooldownMs: 1_000 },
    },
  });
  worker = createWorker(engineDeps(db.pool), { executor, listenUrl: db.appUrl });
  worker.start();
});
afterAll(async () => {
  await worker.stop();
  await api.close();
  await upstream.close();
  await db.drop();
});

/** A one-step workflow whose step POSTs to the upstream; a 503 leaves it dead at once. */
async function chargeWorkflow(): Promise<WorkflowId> {
  const actionId = await withTenant(db.pool, tenantId, async (c) => {
    const app = await c.query<{ id: string }>(
      `insert into apps (tenant_id, key, name, base_url)
       values ($1, 'pay-' || substr(md5(random()::text), 1, 8), 'Payments', $2) returning id`,
      [tenantId, upstream.url],
    );
    const a = await c.query<{ id: ActionId }>(
      `insert into actions (tenant_id, app_id, key, name, kind, implementation, retry_strategy, max_attempts)
       values ($1, $2, 'charge', 'Charge', 'http', $3, 'none', 1) returning id`,
      [tenantId, app.rows[0]!.id, JSON.stringify({ method: 'POST', path: '/charge', body: {} })],
    );
    return a.rows[0]!.id;
  });
  return (await makeWorkflow(db.pool, tenantId, [{ id: 'charge', actionId }])).workflowId;
}

const gql = <T>(query: string, variables: Record<string, unknown> = {}) =>
  api.gql<T>(query, variables, { token });

async function finished(runId: string): Promise<string> {
  return waitFor(
    async () => {
      const r = await db.ownerPool.query<{ status: string }>(
        'select status from workflow_runs where id = $1',
        [runId],
      );
      const s = r.rows[0]?.status;
      return s !== undefined && s !== 'queued' && s !== 'running' && s;
    },
    { what: `run ${runId} to finish` },
  );
}

async function startAndFinish(workflowId: WorkflowId): Promise<{ runId: RunId; status: string }> {
  const r = await gql<{ triggerWorkflow: { run: { id: RunId } } }>(
    'mutation($w: ID!, $i: JSON) { triggerWorkflow(workflowId: $w, input: $i) { run { id } } }',
    { w: workflowId, i: {} },
  );
  if (!r.data) throw new Error(JSON.stringify(r.errors));
  const runId = r.data.triggerWorkflow.run.id;
  return { runId, status: await finished(runId) };
}

type Replayed = { deadLetterId: string; newRunId: string; alreadyReplayed: boolean };
const REPLAY = `mutation($ids: [ID!], $again: Boolean) {
  replayRuns(filter: { ids: $ids }, from: START, again: $again) {
    deadLetterId newRunId alreadyReplayed
  }
}`;

async function deadLetterOf(runId: string): Promise<string> {
  const r = await gql<{ deadLetters: { nodes: { id: string; runId: string }[] } }>(
    '{ deadLetters(first: 100) { nodes { id runId } } }',
  );
  const dl = r.data!.deadLetters.nodes.find((d) => d.runId === runId);
  if (!dl) throw new Error(`no dead letter for run ${runId}`);
  return dl.id;
}

describe('replays', () => {
  it('a dead letter is replayed once; `again` replays it anew with the original Idempotency-Key', async () => {
    const workflowId = await chargeWorkflow();
    mode = 'down';
    const before = upstream.requests.length;
    const { runId, status } = await startAndFinish(workflowId);
    expect(status).toBe('dead');
    const key = `${runId}:charge`;
    expect(upstream.requests.slice(before).map((r) => r.headers['idempotency-key'])).toEqual([key]);
    const dl = await deadLetterOf(runId);

    mode = 'up';
    // Two replays at once (a double click, a retried request): one replay run.
    const [a, b] = await Promise.all([
      gql<{ replayRuns: Replayed[] }>(REPLAY, { ids: [dl] }),
      gql<{ replayRuns: Replayed[] }>(REPLAY, { ids: [dl] }),
    ]);
    const first = [...a.data!.replayRuns, ...b.data!.replayRuns];
    expect(first).toHaveLength(2);
    expect(new Set(first.map((r) => r.newRunId)).size).toBe(1);
    expect(first.map((r) => r.alreadyReplayed).sort()).toEqual([false, true]);
    const replayRunId = first[0]!.newRunId;
    expect(await finished(replayRunId)).toBe('succeeded');
    // And once more, later: still the same replay, nothing sent.
    const again = await gql<{ replayRuns: Replayed[] }>(REPLAY, { ids: [dl] });
    expect(again.data!.replayRuns).toEqual([
      { deadLetterId: dl, newRunId: replayRunId, alreadyReplayed: true },
    ]);
    expect(upstream.requests.length - before).toBe(2);

    // Asked for explicitly: a new run, whose call the upstream can dedupe by the same key.
    const forced = await gql<{ replayRuns: Replayed[] }>(REPLAY, { ids: [dl], again: true });
    const forcedRun = forced.data!.replayRuns[0]!;
    expect(forcedRun.alreadyReplayed).toBe(false);
    expect(forcedRun.newRunId).not.toBe(replayRunId);
    expect(await finished(forcedRun.newRunId)).toBe('succeeded');
    const calls = upstream.requests.slice(before);
    expect(calls).toHaveLength(3);
    expect(calls.map((r) => r.headers['idempotency-key'])).toEqual([key, key, key]);
  });

  it('a run that ends failed (non-retryable) is dead-lettered and can be replayed', async () => {
    const workflowId = await chargeWorkflow();
    mode = 'reject';
    const { runId, status } = await startAndFinish(workflowId);
    expect(status).toBe('failed');
    const dl = await deadLetterOf(runId);
    mode = 'up';
    const r = await gql<{ replayRuns: Replayed[] }>(REPLAY, { ids: [dl] });
    expect(r.errors).toBeUndefined();
    expect(await finished(r.data!.replayRuns[0]!.newRunId)).toBe('succeeded');
  });
});

describe('run and trigger mutations', () => {
  it('cancelRun on a finished run is E_CONFLICT naming its status; the run is unchanged', async () => {
    const workflowId = await chargeWorkflow();
    mode = 'up';
    const { runId, status } = await startAndFinish(workflowId);
    expect(status).toBe('succeeded');
    const r = await gql('mutation($id: ID!) { cancelRun(id: $id) { status } }', { id: runId });
    expect(r.data).toBeNull();
    expect(r.errors?.[0]?.extensions?.code).toBe('E_CONFLICT');
    expect(r.errors?.[0]?.message).toContain('already finished (succeeded)');
    expect(await finished(runId)).toBe('succeeded');
  });

  it('createTrigger plans a cron trigger at once, and the first tick after that time fires it', async () => {
    const workflowId = await chargeWorkflow();
    const created = await gql<{
      createTrigger: { trigger: { id: string; cronNextFireAt: string | null } };
    }>(
      `mutation($w: ID!, $c: JSON) {
        createTrigger(workflowId: $w, kind: cron, config: $c) { trigger { id cronNextFireAt } }
      }`,
      { w: workflowId, c: { expression: '* * * * *' } },
    );
    const { id, cronNextFireAt } = created.data!.createTrigger.trigger;
    expect(cronNextFireAt).not.toBeNull();
    const due = new Date(cronNextFireAt!);
    // The next minute boundary after the creation.
    expect(due.getTime() % 60_000).toBe(0);
    expect(due.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    // The scheduler's first tick comes just after that time: it fires that time (not skip it).
    const clock = fakeClock(new Date(due.getTime() + 100));
    expect(await fireOne({ ...engineDeps(db.pool), clock })).toBe('fired');
    const runs = await db.ownerPool.query<{ input: { scheduledAt: string } }>(
      'select input from workflow_runs where trigger_id = $1',
      [id],
    );
    expect(runs.rows.map((r) => r.input.scheduledAt)).toEqual([due.toISOString()]);
  });
});
