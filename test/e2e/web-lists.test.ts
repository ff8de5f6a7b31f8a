/**
 * Lists that grow, in a real browser: a tenant with 2,000 workflows sees the first page of its
 * workflows list quickly (one page asked for, not 2,000 rows), pages with "Load more", and the
 * search box asks the server and finds the one workflow wanted.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Request } from 'playwright-core';
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
