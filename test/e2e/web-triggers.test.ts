/**
 * The workflow page beyond the editor, in a real browser. Triggers: a cron trigger reads as a sentence with its time zone and next
 * five fire times; a webhook's secret is rotated with an overlap and the new one shown once;
 * Run now starts a run with an input typed in the form generated from the manual trigger's
 * input schema, and bad JSON in the editor (no schema) is refused before anything is sent.
 * Versions: the history, and the changes between two versions as a unified diff.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TenantId } from '../../src/model/ids.ts';
import { cookieOf, startTestApi, type TestApi } from '../support/api.ts';
import {
  fillEditor,
  openBrowser,
  seriousAxeViolations,
  tourShot,
  type TestBrowser,
} from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeAction, makeWorkflow } from '../support/engine-factories.ts';

let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
let cookie: string;
let workflowId: string;
let actionId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, {}, undefined, { webApp: true });
  const setup = await api.gql(
    `mutation { setup(tenantName: "Acme", email: "clock@acme.test", password: "correct horse battery") { kind } }`,
  );
  expect(setup.errors).toBeUndefined();
  cookie = cookieOf(setup.setCookie);
  const tenant = await db.ownerPool.query<{ id: TenantId }>(`select id from tenants`);
  const action = await makeAction(db.pool, tenant.rows[0]!.id);
  actionId = action;
  workflowId = (await makeWorkflow(db.pool, tenant.rows[0]!.id, [{ id: 'one', actionId: action }]))
    .workflowId;
  browser = await openBrowser();
  browser.page.setDefaultTimeout(10_000);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await db?.drop();
});

async function accessible(what: string): Promise<void> {
  const v = await seriousAxeViolations(browser.page);
  expect(v, `${what}: ${JSON.stringify(v)}`).toEqual([]);
}

it('describes a cron schedule, rotates a webhook secret with an overlap, and runs by hand with a form', async () => {
  const { page } = browser;
  await page.goto(`${api.url}/sign-in`);
  await page.getByLabel('Email').fill('clock@acme.test');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/workflows', { timeout: 30_000 });
  await page.goto(`${api.url}/workflows/${workflowId}?tab=triggers`);
  await page.getByRole('heading', { name: 'No triggers yet' }).waitFor();

  // Cron: the sentence appears as the expression is typed, then in the list with five times.
  await page.getByRole('button', { name: 'New trigger' }).click();
  await page.getByLabel('Schedule (cron)').check();
  await page.getByLabel('Cron expression').fill('30 7 * * 1-5');
  await page.getByText('At 07:30, Monday through Friday').waitFor();
  await page.getByLabel('Time zone').fill('Asia/Tokyo');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  const cronRow = page.getByRole('row').filter({ hasText: 'cron' });
  await cronRow.getByText('At 07:30, Monday through Friday').waitFor();
  await cronRow.getByText('(Asia/Tokyo)').waitFor();
  const times = cronRow.getByRole('list', { name: 'Next 5 fire times' }).getByRole('listitem');
  expect(await times.count()).toBe(5);
  for (const t of await times.allTextContents()) expect(t).toMatch(/07:30/);

  // Webhook: created, then rotated with a 7-day overlap; the new secret differs and is shown once.
  await page.getByRole('button', { name: 'New trigger' }).click();
  await page.getByLabel('Webhook').check();
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: 'Webhook trigger created' }).waitFor();
  const first = await page
    .getByRole('textbox', { name: 'Signing secret (shown once)' })
    .inputValue();
  await page.getByRole('button', { name: 'I have copied the secret' }).click();
  await page.getByRole('button', { name: 'Rotate secret of this webhook' }).click();
  await page.getByRole('dialog', { name: 'Rotate signing secret' }).waitFor();
  await accessible('rotate dialog');
  // A Vuetify select's field covers its input for the mouse: open it with the keyboard.
  await page.getByRole('combobox', { name: 'The current secret keeps working for' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('option', { name: '7 days', exact: true }).click();
  await page.getByRole('button', { name: 'Rotate', exact: true }).click();
  await page.getByRole('heading', { name: 'New signing secret' }).waitFor();
  await page.getByText('The previous secret keeps working until').waitFor();
  const second = await page
    .getByRole('textbox', { name: 'Signing secret (shown once)' })
    .inputValue();
  expect(second).toMatch(/^whsec_/);
  expect(second).not.toBe(first);
  await page.getByText('Previous secret valid until').waitFor();
  await page.getByRole('dialog', { name: 'Rotate signing secret' }).waitFor({ state: 'hidden' });
  await accessible('triggers');
  await page.getByRole('button', { name: 'I have copied the secret' }).click();
  expect(await page.getByText(second).count()).toBe(0);
  await page.getByRole('heading', { name: 'New signing secret' }).waitFor({ state: 'hidden' });
  await tourShot(page, 'triggers-cron-rotation');

  // Run now, no input schema: a JSON editor; bad JSON is refused before anything is sent.
  await page.getByRole('button', { name: 'Run now' }).click();
  await page.getByRole('dialog', { name: 'Run now' }).waitFor();
  await fillEditor(page, 'Input (a JSON object)', '{"orderId": ');
  await page.getByRole('button', { name: 'Start run' }).click();
  await page.getByText(/Not valid JSON/).waitFor();
  await page.getByRole('button', { name: 'Cancel' }).click();

  // A manual trigger with an input schema: Run now shows a form for it.
  const created = await api.gql(
    `mutation($w: ID!, $c: JSON) { createTrigger(workflowId: $w, kind: manual, config: $c) { trigger { id } } }`,
    {
      w: workflowId,
      c: {
        inputSchema: {
          type: 'object',
          required: ['orderId'],
          properties: {
            orderId: { type: 'string', title: 'Order id' },
            cents: { type: 'integer', title: 'Amount in cents' },
            rush: { type: 'boolean', title: 'Rush' },
          },
        },
      },
    },
    { cookie },
  );
  expect(created.errors).toBeUndefined();
  await page.reload();
  await page.getByRole('button', { name: 'Run now' }).click();
  await page.getByLabel('Order id').fill('A-1');
  await page.getByLabel('Amount in cents (optional)').fill('250');
  await tourShot(page, 'run-now');
  await accessible('run now form');
  await page.getByRole('button', { name: 'Start run' }).click();
  await page.waitForURL('**/runs/**');
  const runId = page.url().split('/runs/')[1]!;
  const run = await db.ownerPool.query<{ input: unknown }>(
    `select input from workflow_runs where id = $1`,
    [runId],
  );
  expect(run.rows[0]!.input).toEqual({ orderId: 'A-1', cents: 250 });
  expect(browser.problems).toEqual([]);
}, 120_000);

it('lists the versions and shows what changed between two of them', async () => {
  const { page } = browser;
  const save = await api.gql(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d) { version } }`,
    {
      w: workflowId,
      d: {
        steps: [
          { id: 'one', actionId, input: { note: 'first' } },
          { id: 'second_step', actionId, input: { total: '{{ steps.one.output }}' } },
        ],
      },
    },
    { cookie },
  );
  expect(save.errors).toBeUndefined();
  await page.goto(`${api.url}/workflows/${workflowId}?tab=versions`);
  const table = page.getByRole('table', { name: 'Versions' });
  await table.getByRole('row').filter({ hasText: 'v2' }).waitFor();
  expect(await table.getByRole('row').filter({ hasText: 'published' }).textContent()).toContain(
    'v1',
  );
  const diff = page.getByRole('region', { name: 'Changes from v1 to v2' });
  await diff.waitFor();
  await page.getByText(/lines added, \d+ removed, from v1 to v2/).waitFor();
  const text = await diff.innerText();
  expect(text).toMatch(/^\+ +"id": "second_step",$/m);
  expect(text).toMatch(/^\+ +"note": "first"$/m);
  expect(text).not.toContain('<');
  // The same version on both sides: nothing changed.
  await page.getByRole('button', { name: 'Changes in v2' }).click();
  await tourShot(page, 'workflow-versions-diff');
  await accessible('versions');
  await page.keyboard.press('Tab');
  expect(browser.problems).toEqual([]);
}, 60_000);
