/**
 * The runs page's filters in a real browser: status, workflow (picked by searching the
 * server) and time range narrow the list through the API's `runs(filter:)`, and live in the
 * URL, so that a reload — or the link sent to a colleague — shows the same runs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TenantId } from '../../src/model/ids.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import {
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
const runIds: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, {}, undefined, { webApp: true });
  const setup = await api.gql(
    `mutation { setup(tenantName: "Acme", email: "filter@acme.test", password: "correct horse battery") { kind } }`,
  );
  expect(setup.errors).toBeUndefined();
  const tenantId = (await db.ownerPool.query<{ id: TenantId }>(`select id from tenants`)).rows[0]!
    .id;
  const action = await makeAction(db.pool, tenantId);
  const billing = await makeWorkflow(db.pool, tenantId, [{ id: 'one', actionId: action }]);
  const crm = await makeWorkflow(db.pool, tenantId, [{ id: 'one', actionId: action }]);
  await db.ownerPool.query(`update workflows set name = 'Billing sync' where id = $1`, [
    billing.workflowId,
  ]);
  await db.ownerPool.query(`update workflows set name = 'CRM import' where id = $1`, [
    crm.workflowId,
  ]);
  // name: [workflow, status, age]
  const runs: Array<[string, typeof billing, string, string]> = [
    ['billing-failed-recent', billing, 'failed', '10 minutes'],
    ['billing-ok-recent', billing, 'succeeded', '20 minutes'],
    ['billing-failed-old', billing, 'failed', '3 days'],
    ['crm-failed-recent', crm, 'failed', '5 minutes'],
  ];
  for (const [name, wf, status, age] of runs) {
    const r = await db.ownerPool.query<{ id: string }>(
      `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, status, created_at)
       values ($1, $2, $3, $4, now() - $5::interval) returning id`,
      [tenantId, wf.workflowId, wf.versionId, status, age],
    );
    runIds[name] = r.rows[0]!.id;
  }
  browser = await openBrowser();
  browser.page.setDefaultTimeout(10_000);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await db?.drop();
});

async function shown(): Promise<string[]> {
  const ids = await browser.page.locator('main tbody tr a.font-monospace').allTextContents();
  const byId = Object.fromEntries(Object.entries(runIds).map(([k, v]) => [v, k]));
  return ids.map((id) => byId[id.trim()] ?? id).sort();
}

/** Picks a Vuetify select's option with the keyboard (its field covers the input for the mouse). */
async function choose(label: string, option: string): Promise<void> {
  const { page } = browser;
  await page.getByRole('combobox', { name: label }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('option', { name: option, exact: true }).click();
  await page.keyboard.press('Escape');
}

it('filters runs by status, workflow and time, and keeps the filters in the URL', async () => {
  const { page } = browser;
  await page.goto(`${api.url}/sign-in`);
  await page.getByLabel('Email').fill('filter@acme.test');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/workflows', { timeout: 30_000 });
  await page.goto(`${api.url}/runs`);
  await expect.poll(shown).toHaveLength(4);
  // Empty filters still show what they filter: each field is wide enough for its label.
  for (const label of ['Status', 'Workflow', 'Created']) {
    const field = page.locator('main .v-input', {
      has: page.getByRole('combobox', { name: label }),
    });
    const label_ = field.locator('.v-field-label').first();
    const [f, l] = [await field.boundingBox(), await label_.boundingBox()];
    expect(f!.width, `${label} field`).toBeGreaterThanOrEqual(160);
    expect(l!.x + l!.width, `${label} label`).toBeLessThanOrEqual(f!.x + f!.width);
    expect(await label_.textContent()).toBe(label);
  }

  await choose('Status', 'failed');
  await expect
    .poll(shown)
    .toEqual(['billing-failed-old', 'billing-failed-recent', 'crm-failed-recent']);
  await expect.poll(() => new URL(page.url()).searchParams.get('status')).toBe('failed');

  // The workflow picker searches the server by name.
  await page.getByRole('combobox', { name: 'Workflow' }).fill('billing');
  await page.getByRole('option', { name: 'Billing sync' }).click();
  await expect.poll(shown).toEqual(['billing-failed-old', 'billing-failed-recent']);

  await choose('Created', 'Last 24 hours');
  await expect.poll(shown).toEqual(['billing-failed-recent']);
  // The URL follows the filters (the list may show before the address bar is updated).
  await expect
    .poll(() => Object.fromEntries(new URL(page.url()).searchParams))
    .toMatchObject({ status: 'failed', range: '24h' });
  const url = new URL(page.url());
  expect(url.searchParams.get('workflow')).toBeTruthy();
  await tourShot(page, 'runs-filtered');
  expect(await seriousAxeViolations(page)).toEqual([]);

  // A reload (or a shared link) shows the same runs, with the filters filled in.
  await page.reload();
  await expect.poll(shown).toEqual(['billing-failed-recent']);
  await expect
    .poll(() => page.getByRole('combobox', { name: 'Workflow' }).inputValue())
    .toBe('Billing sync');

  // Nothing matches: the empty state says so and clears the filters.
  await page.goto(`${api.url}/runs?status=canceled`);
  await page.getByRole('heading', { name: 'No run matches these filters' }).waitFor();
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await expect.poll(shown).toHaveLength(4);
  await expect.poll(() => new URL(page.url()).search).toBe('');
  expect(browser.problems).toEqual([]);
}, 90_000);
