import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedTenant } from '../../src/accounts/create-tenant.ts';
import type { Worker } from '../../src/engine/worker.ts';
import type { RunId, WorkflowId } from '../../src/model/ids.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createRunChangeHub } from '../../src/api/run-changes.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import {
  makeAction,
  makeWorkflow,
  ok,
  scriptedExecutor,
  sleep,
  waitFor,
} from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { subscribeSse } from '../support/sse.ts';

/** Live run changes: PostgreSQL NOTIFY → one LISTEN per API process → SSE, per tenant only. */
let db: TestDatabase;
let api: TestApi;
let worker: Worker;
let alice: CreatedTenant;
let mallory: CreatedTenant;
let aliceViewer: string;
let aliceWorkflow: string;
let malloryWorkflow: string;

type Change = { runChanged: { runId: string; workflowId: string; status: string } };
const SUBSCRIPTION = `subscription Watch($workflowId: ID, $runId: ID) {
  runChanged(workflowId: $workflowId, runId: $runId) { runId workflowId status }
}`;
const TRIGGER = `mutation Start($id: ID!) { triggerWorkflow(workflowId: $id) { run { id } } }`;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function startRun(token: string, workflowId: string): Promise<string> {
  const r = await api.gql<{ triggerWorkflow: { run: { id: string } } }>(
    TRIGGER,
    { id: workflowId },
    { token },
  );
  expect(r.errors).toBeUndefined();
  return r.data!.triggerWorkflow.run.id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  alice = await makeTenant(db.pool, 'Alice');
  mallory = await makeTenant(db.pool, 'Mallory');
  const created = await api.gql<{ createApiToken: { secret: string } }>(
    `mutation { createApiToken(name: "watcher", role: viewer) { secret } }`,
    {},
    { token: alice.apiToken },
  );
  aliceViewer = created.data!.createApiToken.secret;
  aliceWorkflow = (
    await makeWorkflow(db.pool, alice.tenantId, [
      { id: 'a', actionId: await makeAction(db.pool, alice.tenantId) },
    ])
  ).workflowId;
  malloryWorkflow = (
    await makeWorkflow(db.pool, mallory.tenantId, [
      { id: 'm', actionId: await makeAction(db.pool, mallory.tenantId) },
    ])
  ).workflowId;
  worker = api.engine.createWorker({
    executor: scriptedExecutor(() => ok()),
    listenUrl: db.appUrl,
  });
  worker.start();
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await db?.drop();
});

describe('runChanged over Server-Sent Events', () => {
  it("streams a tenant's runs from start to finish, and never another tenant's", async () => {
    const watch = await subscribeSse<Change>(api.url, SUBSCRIPTION, {}, bearer(aliceViewer));
    expect(watch.status).toBe(200);
    // Mallory watches too, narrowed to… Alice's workflow: the filter does not cross tenants.
    const spy = await subscribeSse<Change>(
      api.url,
      SUBSCRIPTION,
      { workflowId: aliceWorkflow },
      bearer(mallory.apiToken),
    );
    await waitFor(() => api.runChanges.size() === 2, { what: 'subscribed' });
    // The LISTEN connection opens with the first subscriber.
    await sleep(300);

    const malloryRun = await startRun(mallory.apiToken, malloryWorkflow);
    const aliceRun = await startRun(alice.apiToken, aliceWorkflow);
    await waitFor(() => watch.events.some((e) => e.data?.runChanged.status === 'succeeded'), {
      what: "Alice's run to finish on the stream",
    });
    const statuses = watch.events.map((e) => e.data?.runChanged);
    expect(statuses[0]).toEqual({ runId: aliceRun, workflowId: aliceWorkflow, status: 'queued' });
    expect(statuses.at(-1)).toEqual({
      runId: aliceRun,
      workflowId: aliceWorkflow,
      status: 'succeeded',
    });
    expect(statuses.map((s) => s?.status)).toContain('running');
    expect(JSON.stringify(watch.events)).not.toContain(malloryRun);

    // Mallory's own run finished too; her stream, filtered on Alice's workflow, got nothing.
    await waitFor(
      async () =>
        (
          await db.ownerPool.query(
            `select 1 from workflow_runs where id = $1 and status = 'succeeded'`,
            [malloryRun],
          )
        ).rowCount === 1,
    );
    await sleep(200);
    expect(spy.events).toEqual([]);
    watch.close();
    spy.close();
    await waitFor(() => api.runChanges.size() === 0, {
      what: 'the subscriptions to end when their clients go',
    });
  });

  it('sends a change when a step attempt starts or ends, with the run status as it is', async () => {
    const action = await makeAction(db.pool, alice.tenantId);
    const twoSteps = (
      await makeWorkflow(db.pool, alice.tenantId, [
        { id: 'first', actionId: action },
        { id: 'second', actionId: action },
      ])
    ).workflowId;
    const watch = await subscribeSse<Change>(
      api.url,
      SUBSCRIPTION,
      { workflowId: twoSteps },
      bearer(aliceViewer),
    );
    await waitFor(() => api.runChanges.size() === 1);
    const runId = await startRun(alice.apiToken, twoSteps);
    await waitFor(() => watch.events.some((e) => e.data?.runChanged.status === 'succeeded'), {
      what: 'the two-step run to finish on the stream',
    });
    const statuses = watch.events.map((e) => e.data!.runChanged);
    expect(statuses.every((c) => c.runId === runId)).toBe(true);
    // queued; running (its first attempt starts); running (the first ends, the second starts);
    // succeeded. Identical notifications of one transaction are folded by PostgreSQL.
    expect(statuses.map((c) => c.status)).toEqual(['queued', 'running', 'running', 'succeeded']);
    watch.close();
    await waitFor(() => api.runChanges.size() === 0);
  });

  it('ends open streams when its LISTEN connection comes back, so clients refetch what they missed', async () => {
    const watch = await subscribeSse<Change>(api.url, SUBSCRIPTION, {}, bearer(aliceViewer));
    expect(watch.status).toBe(200);
    await waitFor(() => api.runChanges.size() === 1, { what: 'subscribed' });
    // PostgreSQL drops the LISTEN connection (as a restart or a network cut would).
    await waitFor(
      async () =>
        (
          await db.ownerPool.query(
            `select pg_terminate_backend(pid) from pg_stat_activity
              where application_name = 'switchyard-listen' and datname = current_database()`,
          )
        ).rowCount! > 0,
      { what: 'the LISTEN connection to exist' },
    );
    // Changes made while nobody listened are not on the stream: the stream ends once listening
    // is back, and a client that opens it again sees changes live.
    await watch.ended;
    expect(api.runChanges.size()).toBe(0);
    const again = await subscribeSse<Change>(api.url, SUBSCRIPTION, {}, bearer(aliceViewer));
    await waitFor(() => api.runChanges.size() === 1, { what: 'subscribed again' });
    const run = await startRun(alice.apiToken, aliceWorkflow);
    await waitFor(() => again.events.some((e) => e.data?.runChanged.runId === run), {
      what: 'the new run on the reopened stream',
    });
    again.close();
    await waitFor(() => api.runChanges.size() === 0, { what: 'unsubscribed' });
  });

  it('survives clients that go at once, before their stream is read', async () => {
    // A tab closed or navigated away right after opening its stream: each request is aborted
    // a few milliseconds after it is sent, some before and some after their answer starts (an
    // uncaught error here would end the API process).
    for (let i = 0; i < 40; i++) {
      const abort = new AbortController();
      const sent = fetch(`${api.url}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          ...bearer(aliceViewer),
        },
        body: JSON.stringify({ query: SUBSCRIPTION, variables: {} }),
        signal: abort.signal,
      }).catch(() => undefined);
      await sleep(i % 8);
      abort.abort();
      await sent;
    }
    await waitFor(() => api.runChanges.size() === 0, { what: 'every subscription to end' });
    const alive = await api.gql('{ __typename }', {}, { token: aliceViewer });
    expect(alive.data).toEqual({ __typename: 'Query' });
  });

  it('refuses anonymous callers, and logs the subscription in the access history', async () => {
    const anon = await subscribeSse<Change>(api.url, SUBSCRIPTION, {}, {});
    await anon.ended;
    expect(anon.events[0]?.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
    const watch = await subscribeSse<Change>(api.url, SUBSCRIPTION, {}, bearer(aliceViewer));
    await waitFor(() => api.runChanges.size() === 1);
    watch.close();
    await api.flush();
    const logged = await db.ownerPool.query<{ outcome: string }>(
      `select outcome from access_log where tenant_id = $1 and operation_kind = 'subscription'`,
      [alice.tenantId],
    );
    expect(logged.rows.map((r) => r.outcome)).toContain('ok');
  });
});

describe('the process cap', () => {
  it('refuses subscriptions past API_SUBSCRIPTIONS_MAX with E_TOO_MANY_SUBSCRIPTIONS', async () => {
    const capped = await startTestApi(db, { API_SUBSCRIPTIONS_MAX: '1' });
    try {
      const first = await subscribeSse<Change>(capped.url, SUBSCRIPTION, {}, bearer(aliceViewer));
      await waitFor(() => capped.runChanges.size() === 1);
      const second = await subscribeSse<Change>(capped.url, SUBSCRIPTION, {}, bearer(aliceViewer));
      await second.ended;
      expect(second.events[0]?.errors?.[0]?.extensions).toMatchObject({
        code: 'E_TOO_MANY_SUBSCRIPTIONS',
        retryable: true,
      });
      await capped.flush();
      const refused = await db.ownerPool.query(
        `select 1 from access_log where operation_kind = 'subscription'
            and outcome = 'error:E_TOO_MANY_SUBSCRIPTIONS'`,
      );
      expect(refused.rowCount).toBe(1);
      first.close();
      await waitFor(() => capped.runChanges.size() === 0);
      // The server's close ends open streams rather than waiting for their clients.
      const third = await subscribeSse<Change>(capped.url, SUBSCRIPTION, {}, bearer(aliceViewer));
      await waitFor(() => capped.runChanges.size() === 1);
      const closing = Date.now();
      await capped.close();
      await third.ended;
      expect(Date.now() - closing).toBeLessThan(2_000);
    } finally {
      await capped.close().catch(() => undefined);
    }
  });
});

describe('the hub', () => {
  it("delivers a notification to its tenant's subscribers only, narrowed by run or workflow", async () => {
    const hub = createRunChangeHub({
      listenUrl: undefined,
      maxSubscriptions: 10,
      logger: testLogger,
    });
    const all = hub.subscribe(alice.tenantId, { workflowId: null, runId: null });
    const oneRun = hub.subscribe(alice.tenantId, { workflowId: null, runId: 'r2' as RunId });
    const oneWorkflow = hub.subscribe(alice.tenantId, {
      workflowId: 'w1' as WorkflowId,
      runId: null,
    });
    const other = hub.subscribe(mallory.tenantId, { workflowId: null, runId: null });
    hub.deliver('not json');
    hub.deliver(
      JSON.stringify({
        t: alice.tenantId,
        r: [
          ['r1', 'w1', 'queued'],
          ['r2', 'w2', 'running'],
        ],
      }),
    );
    hub.deliver(JSON.stringify({ t: alice.tenantId, r: [['r3', 'w1', 'failed']] }));
    const take = async (it: AsyncIterator<unknown>, n: number) => {
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push((await it.next()).value);
      return out;
    };
    expect(await take(all, 3)).toEqual([
      { runId: 'r1', workflowId: 'w1', status: 'queued' },
      { runId: 'r2', workflowId: 'w2', status: 'running' },
      { runId: 'r3', workflowId: 'w1', status: 'failed' },
    ]);
    expect(await take(oneRun, 1)).toEqual([{ runId: 'r2', workflowId: 'w2', status: 'running' }]);
    expect((await take(oneWorkflow, 2)).map((c) => (c as { runId: string }).runId)).toEqual([
      'r1',
      'r3',
    ]);
    await hub.close();
    // Closed: each iterator ends with nothing more (Mallory's got nothing at all).
    expect(await other.next()).toEqual({ value: undefined, done: true });
    expect(await oneRun.next()).toEqual({ value: undefined, done: true });
    expect(hub.size()).toBe(0);
  });

  it('ends a subscription after its maximum age, so that its caller authenticates again', async () => {
    const hub = createRunChangeHub({
      listenUrl: undefined,
      maxSubscriptions: 10,
      logger: testLogger,
      maxAgeMs: 100,
    });
    const changes = hub.subscribe(alice.tenantId, { workflowId: null, runId: null });
    expect(hub.size()).toBe(1);
    const started = Date.now();
    expect(await changes.next()).toEqual({ value: undefined, done: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(hub.size()).toBe(0);
    await hub.close();
  });
});

describe('the notification (migration 0012)', () => {
  it('sends one notification per tenant per statement, in chunks under 8000 bytes', async () => {
    const listener = new pg.Client({ connectionString: db.appUrl });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (n) => payloads.push(n.payload ?? ''));
    await listener.query('listen sy_run_changes');
    try {
      const version = await db.ownerPool.query<{ id: string }>(
        `select current_version_id as id from workflows where id = $1`,
        [aliceWorkflow],
      );
      await db.ownerPool.query(
        `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, status)
         select $1, $2, $3, 'canceled' from generate_series(1, 100)`,
        [alice.tenantId, aliceWorkflow, version.rows[0]!.id],
      );
      await waitFor(() => payloads.length >= 3, { what: '3 notifications' });
      await sleep(200);
      expect(payloads).toHaveLength(3);
      const runs = payloads.flatMap((p) => (JSON.parse(p) as { t: string; r: unknown[] }).r);
      expect(runs).toHaveLength(100);
      for (const p of payloads) {
        expect(Buffer.byteLength(p)).toBeLessThan(8000);
        expect(JSON.parse(p)).toMatchObject({ t: alice.tenantId });
      }
      // An update that changes no status sends nothing.
      payloads.length = 0;
      await db.ownerPool.query(`update workflow_runs set error = null where tenant_id = $1`, [
        alice.tenantId,
      ]);
      await sleep(300);
      expect(payloads).toEqual([]);
    } finally {
      await listener.end();
    }
  });

  it('stays silent in a transaction whose caller sends the changes after its commit (0016, 0036)', async () => {
    const listener = new pg.Client({ connectionString: db.appUrl });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (n) => payloads.push(n.payload ?? ''));
    await listener.query('listen sy_run_changes');
    const client = await db.ownerPool.connect();
    try {
      const version = await client.query<{ id: string }>(
        `select current_version_id as id from workflows where id = $1`,
        [aliceWorkflow],
      );
      const insert = (status: string) =>
        client.query(
          `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, status)
           values ($1, $2, $3, $4)`,
          [alice.tenantId, aliceWorkflow, version.rows[0]!.id, status],
        );
      // As the run intake's transaction does (tenantStatements, callerSendsRunChanges).
      await client.query(`begin; select set_config('switchyard.run_changes', 'caller', true)`);
      await insert('failed');
      await client.query('commit');
      // The setting is the transaction's: the next one notifies again.
      await insert('canceled');
      await waitFor(() => payloads.length >= 1, { what: 'the notification of the second insert' });
      await sleep(200);
      expect(payloads.map((p) => (JSON.parse(p) as { r: string[][] }).r.map((r) => r[2]))).toEqual([
        ['canceled'],
      ]);
    } finally {
      client.release();
      await listener.end();
    }
  });
});
