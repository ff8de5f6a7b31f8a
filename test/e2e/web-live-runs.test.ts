/**
 * Runs that update live, in a real browser: the runs page is open, a run is started through the
 * API, and it appears and reaches `succeeded` without a reload and without polling (the page
 * sends no GraphQL request while nothing changes); run detail follows a run the same way. The
 * API and the worker share an engine, as in `switchyard start`: new runs are handed over, so a
 * new run is first announced `running`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Request } from 'playwright-core';
import type { Worker } from '../../src/engine/worker.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { cookieOf, startTestApi, type TestApi } from '../support/api.ts';
import { openBrowser, seriousAxeViolations, type TestBrowser } from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { signedHeaders } from '../support/webhook-signing.ts';
import {
  makeAction,
  makeWorkflow,
  ok,
  scriptedExecutor,
  sleep,
} from '../support/engine-factories.ts';

let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
let worker: Worker;
let cookie: string;
let workflowId: string;
let hook: { id: string; secret: string };

/** Each step takes a while, so that a run is seen queued or running before it succeeds. */
const STEP_MS = 1_500;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, {}, undefined, { webApp: true });
  const setup = await api.gql(
    `mutation { setup(tenantName: "Acme", email: "watcher@acme.test", password: "correct horse battery") { kind } }`,
  );
  expect(setup.errors).toBeUndefined();
  cookie = cookieOf(setup.setCookie);
  const tenant = await db.ownerPool.query<{ id: TenantId }>(`select id from tenants`);
  const tenantId = tenant.rows[0]!.id;
  const action = await makeAction(db.pool, tenantId);
  workflowId = (
    await makeWorkflow(db.pool, tenantId, [
      { id: 'first', actionId: action },
      { id: 'second', actionId: action },
    ])
  ).workflowId;
  worker = api.engine.createWorker({
    executor: scriptedExecutor(async () => {
      await sleep(STEP_MS);
      return ok();
    }),
    listenUrl: db.appUrl,
  });
  worker.start();
  // As `switchyard start` wires them: the intake hands new runs to this worker, and a run
  // handed over is created running (its first change says so, not queued).
  api.engine.handRunsTo(worker.handOff);
  const t = await api.gql<{ createTrigger: { secret: string; trigger: { id: string } } }>(
    `mutation($w: ID!) { createTrigger(workflowId: $w, kind: webhook) { secret trigger { id } } }`,
    { w: workflowId },
    { cookie },
  );
  expect(t.errors).toBeUndefined();
  hook = { id: t.data!.createTrigger.trigger.id, secret: t.data!.createTrigger.secret };
  browser = await openBrowser();
  browser.page.setDefaultTimeout(10_000);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await api?.close();
  await db?.drop();
});

/** A signed webhook delivery: the intake hands its run to the worker, created running. */
async function deliver(): Promise<string> {
  const body = JSON.stringify({ order: 1 });
  const res = await fetch(`${api.url}/hooks/${hook.id}`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      ...signedHeaders(body, hook.secret, `msg_${Date.now()}`),
    },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { runId: string }).runId;
}

/** A run started by hand (in the API's transaction): queued, then claimed. */
async function startRun(): Promise<string> {
  const r = await api.gql<{ triggerWorkflow: { run: { id: string } } }>(
    `mutation Start($id: ID!) { triggerWorkflow(workflowId: $id) { run { id } } }`,
    { id: workflowId },
    { cookie },
  );
  expect(r.errors).toBeUndefined();
  return r.data!.triggerWorkflow.run.id;
}

it('shows runs appear and finish as they happen, without reload or polling', async () => {
  try {
    await watchRuns();
  } catch (err) {
    await browser.page.screenshot({ path: 'test-results/web-live-runs-failure.png' });
    throw err;
  }
}, 90_000);

async function watchRuns(): Promise<void> {
  const { page } = browser;
  // Every GraphQL request the page sends, streams (subscriptions) apart.
  const queries: string[] = [];
  const streams: string[] = [];
  page.on('request', (req: Request) => {
    if (!req.url().endsWith('/graphql')) return;
    const body = req.postData() ?? '';
    if (req.headers().accept === 'text/event-stream') streams.push(body);
    else queries.push(body);
  });

  await page.goto(`${api.url}/sign-in`);
  await page.getByLabel('Email').fill('watcher@acme.test');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/workflows');
  await page.goto(`${api.url}/runs`);
  await page.getByRole('heading', { name: 'No runs yet' }).waitFor();
  await page.getByText('Live', { exact: true }).waitFor();
  expect(await seriousAxeViolations(page)).toEqual([]);
  // A marker that a reload would lose.
  await page.evaluate(() => ((window as unknown as { stillHere: boolean }).stillHere = true));

  // Nothing changes: nothing is asked (after the one refetch that follows the stream's opening,
  // half a second after it, for what changed before it was up).
  await sleep(1_000);
  const idle = queries.length;
  await sleep(2_000);
  expect(queries.length).toBe(idle);

  // A webhook's run, handed to the worker: announced running, never queued.
  const runId = await deliver();
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: runId }) });
  await row.waitFor();
  await row.getByText('running').waitFor();
  await row.getByText('succeeded').waitFor({ timeout: 20_000 });
  expect(await page.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere)).toBe(
    true,
  );
  // The refetches came from the changes (running, the second step, succeeded), batched.
  const afterRun = queries.length;
  expect(afterRun - idle).toBeGreaterThan(0);
  expect(afterRun - idle).toBeLessThanOrEqual(5);
  await sleep(2_000);
  expect(queries.length).toBe(afterRun);
  expect(streams).toHaveLength(1);
  expect(streams[0]).toContain('runChanged');
  expect(await seriousAxeViolations(page)).toEqual([]);

  // Run detail: a second run, opened from the table while it is still going, is followed to
  // its end by the subscription (no refresh every second as before).
  const second = await startRun();
  await page.getByRole('link', { name: second }).click();
  await page.getByRole('heading', { name: `Run ${second.slice(0, 8)}` }).waitFor();
  await page.getByRole('button', { name: 'Cancel run' }).waitFor();
  const beforeDetail = queries.length;
  await page.getByText('second', { exact: true }).waitFor({ timeout: 20_000 });
  await page.locator('main').getByText('succeeded').first().waitFor({ timeout: 20_000 });
  await page.getByRole('button', { name: 'Cancel run' }).waitFor({ state: 'detached' });
  // About two steps' worth of changes, each one refetch: far fewer than a poll every second
  // over the run's three seconds and more.
  expect(queries.length - beforeDetail).toBeLessThanOrEqual(5);
  const settled = queries.length;
  await sleep(2_000);
  expect(queries.length).toBe(settled);
  expect(await seriousAxeViolations(page)).toEqual([]);
  expect(browser.problems).toEqual([]);
}
