/**
 * Import from OpenAPI in a real browser: a document uploaded as a file is previewed (what
 * would be created), searched, then imported; a newer version fetched from a URL is previewed
 * with the action it would deprecate, then applied. Keyboard only for the import button.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { openBrowser, seriousAxeViolations, type TestBrowser } from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { treeApi31 } from '../support/openapi-fixtures.ts';
import { startServer, type LocalServer } from '../support/runner-servers.ts';

let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
let docs: LocalServer;

beforeAll(async () => {
  db = await createTestDatabase();
  docs = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(treeApi31({ version: '2', dropDelete: true, renameList: 'All trees' })));
  });
  api = await startTestApi(db, { GATE_ALLOW_HTTP_HOSTS: docs.hostPort }, undefined, {
    webApp: true,
  });
  browser = await openBrowser();
  browser.page.setDefaultTimeout(10_000);
  const setup = await api.gql(
    `mutation { setup(tenantName: "Acme", email: "builder@acme.test", password: "correct horse battery") { kind } }`,
  );
  expect(setup.errors).toBeUndefined();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await docs?.close();
  await db?.drop();
});

async function noAxe(): Promise<void> {
  await browser.page.waitForFunction(
    () => !document.querySelector('[class*="-enter-active"], [class*="-leave-active"]'),
  );
  expect(await seriousAxeViolations(browser.page)).toEqual([]);
}

it('previews, searches and imports an OpenAPI document, then a newer version from a URL', async () => {
  try {
    await importFlow();
  } catch (err) {
    await browser.page.screenshot({ path: 'test-results/web-openapi-import-failure.png' });
    throw err;
  }
}, 120_000);

async function importFlow(): Promise<void> {
  const { page } = browser;
  await page.goto(`${api.url}/sign-in`);
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Email').fill('builder@acme.test');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/workflows');

  await page.goto(`${api.url}/apps`);
  await page.getByRole('link', { name: 'HTTP request' }).waitFor();
  // Keyboard: the import button is reachable and opens the dialog.
  await page.getByRole('button', { name: 'Import from OpenAPI' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Import from OpenAPI' });
  await dialog.waitFor();
  await dialog.getByLabel('OpenAPI document', { exact: true }).setInputFiles({
    name: 'trees.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify(treeApi31())),
  });
  await dialog.getByRole('button', { name: 'Preview' }).click();
  await dialog.getByText('Would create the app Tree Service (tree-service)').waitFor();
  await dialog.getByText('4 to create').waitFor();
  await dialog.getByText('https://eu.trees.example.com/v1').waitFor();
  // Two servers in the document: the choice is offered.
  await dialog.getByRole('combobox', { name: 'Server' }).waitFor();
  await noAxe();
  // Nothing written by the preview.
  const written = await db.ownerPool.query<{ n: number }>(
    `select count(*)::int as n from apps where key = 'tree-service'`,
  );
  expect(written.rows[0]!.n).toBe(0);

  await dialog.getByRole('textbox', { name: 'Search actions' }).fill('delete');
  const table = dialog.getByRole('table');
  await table.getByText('delete_tree').waitFor();
  await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
  await dialog.getByRole('textbox', { name: 'Search actions' }).fill('');
  await expect.poll(() => table.locator('tbody tr').count()).toBe(4);

  await dialog.getByRole('button', { name: 'Create the app' }).click();
  await dialog.getByText('Created the app Tree Service (tree-service)').waitFor();
  await dialog.getByText('4 created').waitFor();
  await noAxe();
  await dialog.getByRole('link', { name: 'Open the app' }).click();
  await page.waitForURL('**/apps/*');
  await page.getByText('List trees').first().waitFor();

  // Version 2 from a URL: list_trees renamed, delete_tree gone.
  await page.goto(`${api.url}/apps`);
  await page.getByRole('link', { name: 'Tree Service' }).waitFor();
  await page.getByRole('button', { name: 'Import from OpenAPI' }).click();
  await dialog.getByRole('button', { name: 'URL' }).click();
  await dialog.getByRole('textbox', { name: 'Document URL' }).fill(`${docs.url}/trees.json`);
  await dialog.getByRole('button', { name: 'Preview' }).click();
  await dialog.getByText('Would update the app Tree Service (tree-service)').waitFor();
  await dialog.getByText('1 to deprecate').waitFor();
  await dialog.getByText('1 to update').waitFor();
  await noAxe();
  await dialog.getByRole('button', { name: 'Update the app' }).click();
  await dialog.getByText('1 deprecated').waitFor();
  const deprecated = await db.ownerPool.query(
    `select key from actions where deprecated_at is not null`,
  );
  expect(deprecated.rows).toEqual([{ key: 'delete_tree' }]);
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden' });

  expect(browser.problems).toEqual([]);
}
