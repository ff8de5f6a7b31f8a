/**
 * Lists that grow, in a real browser: a tenant with 2,000 workflows sees the first page of its
 * workflows list quickly (one page asked for, not 2,000 rows), pages with "Load more", and the
 * search box asks the server and finds the one workflow wanted. The editor's action picker
 * pages and searches the tenant's actions the same way.
 */
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import type { Request, Response } from 'playwright-core';
import { cookieOf, startTestApi, type TestApi } from '../support/api.ts';
import {
  openBrowser,
  seriousAxeViolations,
  tourShot,
  type TestBrowser,
} from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
const N = 2000;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, {}, undefined, { webApp: true });
  const setup = await api.gql(
    `mutation { setup(tenantName: "Acme", email: "lists@acme.test", password: "correct horse battery") { kind } }`,
  );
  expect(setup.errors).toBeUndefined();
  expect(cookieOf(setup.setCookie)).toBeTruthy();
  const tenant = await db.ownerPool.query<{ id: string }>(`select id from tenants`);
  await db.ownerPool.query(
    `insert into workflows (tenant_id, name, description)
     select $1, 'Flow ' || lpad(i::text, 4, '0'), 'Generated for the list test'
       from generate_series(1, $2) i`,
    [tenant.rows[0]!.id, N],
  );
  await db.ownerPool.query(
    `insert into workflows (tenant_id, name) values ($1, 'Quarterly invoice sync')`,
    [tenant.rows[0]!.id],
  );
  // 60 actions of one app: more than a page of the step panel's picker.
  await db.ownerPool.query(
    `with app as (
       insert into apps (tenant_id, key, name) values ($1, 'big', 'Big API') returning id
     )
     insert into actions (tenant_id, app_id, key, name, kind, implementation)
     select $1, app.id, 'op-' || i, 'Operation ' || lpad(i::text, 2, '0'), 'http',
            '{"method": "GET", "url": "https://example.test/"}'
       from app, generate_series(1, 60) i`,
    [tenant.rows[0]!.id],
  );
  browser = await openBrowser();
  browser.page.setDefaultTimeout(10_000);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await db?.drop();
});

it('shows the first page of 2,000 workflows quickly, pages, and search finds one', async () => {
  const { page } = browser;
  const asked: string[] = [];
  page.on('request', (req: Request) => {
    if (req.url().endsWith('/graphql') && (req.postData() ?? '').includes('query Workflows'))
      asked.push(req.postData() ?? '');
  });
  await page.goto(`${api.url}/sign-in`);
  await page.getByLabel('Email').fill('lists@acme.test');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/workflows', { timeout: 30_000 });

  // A fresh load of the page: the first 50 rows, timed from navigation to the rows shown.
  const started = Date.now();
  await page.goto(`${api.url}/workflows`);
  await page.getByRole('link', { name: 'Flow 0050' }).waitFor();
  const firstPageMs = Date.now() - started;
  expect(firstPageMs).toBeLessThan(3_000);
  const rows = page.locator('main tbody tr');
  expect(await rows.count()).toBe(50);
  expect(await page.getByRole('link', { name: 'Flow 0051' }).count()).toBe(0);
  await tourShot(page, 'workflows-many');
  expect(await seriousAxeViolations(page)).toEqual([]);

  // Load more: the next 50, after the first ones, none twice.
  const more = page.getByRole('button', { name: 'Load more workflows' });
  await more.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: 'Flow 0100' }).waitFor();
  expect(await rows.count()).toBe(100);
  expect(await page.getByRole('link', { name: 'Flow 0050' }).count()).toBe(1);

  // Search asks the server: the one workflow, out of pages never loaded.
  const before = asked.length;
  await page.getByRole('textbox', { name: 'Search workflows by name' }).fill('INVOICE');
  await page.getByRole('link', { name: 'Quarterly invoice sync' }).waitFor();
  await expect.poll(() => rows.count()).toBe(1);
  expect(asked.length).toBeGreaterThan(before);
  expect(asked.at(-1)).toContain('INVOICE');
  expect(await page.getByRole('button', { name: 'Load more workflows' }).count()).toBe(0);
  await page.getByRole('textbox', { name: 'Search workflows by name' }).fill('no such flow');
  await page.getByText('No workflow matches “no such flow”.').waitFor();
  expect(await seriousAxeViolations(page)).toEqual([]);
  expect(browser.problems).toEqual([]);
  // Each page asked for at most 50 rows.
  for (const body of asked) expect(body).toContain('first: 50');
}, 90_000);

it('pages and searches the actions in the step panel’s picker', async () => {
  const { page } = browser;
  await page.goto(`${api.url}/workflows`);
  await page.getByRole('link', { name: 'Flow 0001' }).click();
  await page.getByRole('button', { name: 'Add step' }).click();
  // What the picker asks: pages of 20 (the menu renders only the rows in view, so the
  // requests, not the DOM, show how much was loaded).
  const asked: Array<{ after: string | null; search: string | null; got: number }> = [];
  const onResponse = async (res: Response) => {
    const body = res.request().postData() ?? '';
    if (!res.url().endsWith('/graphql') || !body.includes('query ActionPicker')) return;
    const { variables } = JSON.parse(body) as {
      variables: { after: string | null; search: string | null };
    };
    const data = (await res.json()) as { data: { actions: { nodes: unknown[] } } };
    asked.push({ ...variables, got: data.data.actions.nodes.length });
  };
  const listener = (res: Response) => void onResponse(res).catch(() => undefined);
  page.on('response', listener);
  onTestFinished(() => void page.off('response', listener));
  const combobox = page.getByRole('combobox', { name: 'Action' });
  await combobox.click();
  const options = page.getByRole('option');
  // The app's name narrows the list to its actions (the built-in catalogue comes first
  // otherwise), still a page at a time.
  await combobox.fill('Big API');
  await page.getByRole('option', { name: 'Big API · Operation 01' }).waitFor();
  await page.getByRole('option', { name: 'Load more actions' }).click();
  await expect.poll(() => asked.filter((a) => a.after !== null).length).toBe(1);
  expect(asked.every((a) => a.got <= 20)).toBe(true);
  await combobox.fill('operation 57');
  await expect.poll(() => options.allTextContents()).toEqual(['Big API · Operation 57']);
  await page.getByRole('option', { name: 'Big API · Operation 57' }).click();
  await page.locator('.v-autocomplete__selection', { hasText: 'Operation 57' }).waitFor();
  expect(await seriousAxeViolations(page)).toEqual([]);
  expect(browser.problems).toEqual([]);
}, 60_000);
