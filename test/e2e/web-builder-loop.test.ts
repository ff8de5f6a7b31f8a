/**
 * The builder's loop in a real browser, nothing by hand: a workflow webhook → JavaScript →
 * HTTP request is built in the graph editor (code in the code editor, a mapping chosen from
 * completion), saved and published; a webhook trigger is created and its secret shown once;
 * the test sends a signed delivery to the URL the page showed, and the run appears in the
 * workflow's runs and succeeds in run detail, having called the local fake API.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Worker } from '../../src/engine/worker.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import {
  fillEditor,
  openBrowser,
  seriousAxeViolations,
  tourShot,
  type TestBrowser,
  chooseAction,
} from '../support/browser.ts';
import { startTestWorker } from '../support/test-worker.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';
import { signedHeaders } from '../support/webhook-signing.ts';

let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
let crm: LocalServer;
let worker: Worker;

beforeAll(async () => {
  db = await createTestDatabase();
  crm = await startServer((_req, res) => sendJson(res, 201, { ok: true }));
  api = await startTestApi(db, {}, undefined, { webApp: true });
  worker = startTestWorker(db, { allowHttpHosts: [crm.hostPort] });
  browser = await openBrowser();
  browser.page.setDefaultTimeout(10_000);
  const setup = await api.gql(
    `mutation { setup(tenantName: "Acme", email: "builder@acme.test", password: "correct horse battery") { kind } }`,
  );
  expect(setup.errors).toBeUndefined();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await api?.close();
  await crm?.close();
  await db?.drop();
});

it('builds, publishes and triggers a workflow, and watches its run succeed', async () => {
  try {
    await builderLoop();
  } catch (err) {
    await browser.page.screenshot({ path: 'test-results/web-builder-loop-failure.png' });
    throw err;
  }
}, 120_000);

async function builderLoop(): Promise<void> {
  const { page } = browser;
  await page.goto(`${api.url}/sign-in`);
  // The form is typed into once the page has settled (under load a late render moved focus).
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Email').fill('builder@acme.test');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/workflows');

  await page.getByRole('button', { name: 'Create your first workflow' }).click();
  await page.getByLabel('Name', { exact: true }).fill('New order to CRM');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: 'This workflow has no steps yet' }).waitFor();

  // Step 1: JavaScript that computes a total.
  await page.getByRole('button', { name: 'Add step' }).click();
  await page.getByLabel('Step id').fill('total');
  await chooseAction(browser.page, 'JavaScript code · Run JavaScript');
  await page.getByText('JavaScript code', { exact: true }).waitFor();
  await fillEditor(
    browser.page,
    'JavaScript code',
    'return { cents: Math.round(input.amount * 100) };',
  );
  await fillEditor(
    browser.page,
    'Input (JSON; type {{ to insert a value from the trigger or an earlier step)',
    '{ "amount": "{{ trigger.body.amount }}" }',
  );
  // The sample payload that completion offers paths from.
  await fillEditor(
    browser.page,
    'Sample trigger payload (for completion): { body, headers, query }',
    '{ "body": { "email": "ada@example.test", "amount": 12.5 }, "headers": {}, "query": {} }',
  );

  // Step 2: the HTTP request, its body mapped with a path chosen from completion.
  await page.getByRole('button', { name: 'Add step' }).click();
  await page.getByLabel('Step id').fill('notify');
  await chooseAction(browser.page, 'HTTP request · Send an HTTP request');
  await fillEditor(
    browser.page,
    'Input (JSON; type {{ to insert a value from the trigger or an earlier step)',
    `{ "method": "POST", "url": "${crm.url}/contacts", "body": { "cents": "{{ steps.total.output.cents }}", "email": "{{ trigger.body.em`,
  );
  await page.getByRole('option', { name: /trigger\.body\.email/ }).click();
  await page.keyboard.insertText('" } }');
  expect(await seriousAxeViolations(page)).toEqual([]);

  await tourShot(page, '3-workflow-editor');
  await page.getByRole('button', { name: 'Save and publish' }).click();
  await page.getByText('Saved and published as v1').waitFor();

  // A webhook trigger: the URL and the secret, shown once.
  await page.getByRole('tab', { name: 'Triggers' }).click();
  await page.getByRole('button', { name: 'New trigger' }).click();
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByText('Webhook trigger created').waitFor();
  const url = await page.getByRole('textbox', { name: 'Webhook URL' }).inputValue();
  const secret = await page
    .getByRole('textbox', { name: 'Signing secret (shown once)' })
    .inputValue();
  expect(url).toMatch(/\/hooks\/[0-9a-f-]{36}$/);
  expect(secret).toMatch(/^whsec_/);
  expect(await seriousAxeViolations(page)).toEqual([]);

  // The test is the external system: a signed delivery, as the page's example shows.
  const body = JSON.stringify({ email: 'ada@example.test', amount: 12.5 });
  const delivery = await fetch(url.replace(/^https?:\/\/[^/]+/, api.url), {
    method: 'POST',
    body,
    headers: signedHeaders(body, secret, `msg_${Date.now()}`),
  });
  expect(delivery.status).toBe(202);
  const { runId } = (await delivery.json()) as { runId: string };

  await page.getByRole('tab', { name: 'Runs' }).click();
  await page.getByRole('link', { name: runId }).waitFor();
  await tourShot(page, '4-workflow-runs');
  await page.getByRole('link', { name: runId }).click();
  await page.getByRole('heading', { name: `Run ${runId.slice(0, 8)}` }).waitFor();
  await page.locator('main').getByText('succeeded').first().waitFor({ timeout: 20_000 });
  await tourShot(page, '5-run-detail');
  expect(await seriousAxeViolations(page)).toEqual([]);

  expect(crm.requests).toHaveLength(1);
  expect(JSON.parse(crm.requests[0]!.body)).toEqual({ cents: 1250, email: 'ada@example.test' });
  expect(browser.problems).toEqual([]);
}
