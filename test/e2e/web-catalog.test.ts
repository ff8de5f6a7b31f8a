/**
 * The catalog in a real browser: an HTTP app with api_key auth against a local fake API, an
 * action whose schemas are checked as they are typed (an invalid schema is refused before
 * saving; the server's refusal lands on the field it names), and a connection whose secret is
 * write-only: after saving, and after a reload, it is nowhere in the page or its inputs. The
 * stored pieces are then used by a workflow run that calls the fake API with the key.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Worker } from '../../src/engine/worker.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import {
  fillEditor,
  openBrowser,
  seriousAxeViolations,
  type TestBrowser,
} from '../support/browser.ts';
import { startTestWorker } from '../support/test-worker.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';

const SECRET = 'sk_live_write_only_4f1c9e';

let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
let crm: LocalServer;
let worker: Worker;

beforeAll(async () => {
  db = await createTestDatabase();
  crm = await startServer((_req, res) => sendJson(res, 201, { id: 'c_1' }));
  api = await startTestApi(db, { GATE_ALLOW_HTTP_HOSTS: crm.hostPort }, undefined, {
    webApp: true,
  });
  worker = startTestWorker(db, { allowHttpHosts: [crm.hostPort], secretBox: api.secrets });
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

/** Picks an option of a select from the keyboard, as a keyboard user would. */

/**
 * A dialog's first field takes the focus once the dialog has opened (Vuetify's autofocus, after
 * its enter transition); typing before that can be lost to it. Waits for it, as a person would.
 */
async function dialogSettled(firstField: string): Promise<void> {
  const field = browser.page.getByLabel(firstField, { exact: true });
  const id = await field.getAttribute('id');
  await expect.poll(() => browser.page.evaluate(() => document.activeElement?.id)).toBe(id);
}

async function choose(label: string, option: string): Promise<void> {
  const { page } = browser;
  await page.getByRole('combobox', { name: label }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('option', { name: option, exact: true }).click();
}

/** The messages Vuetify shows under the input labelled `label`. */
function fieldMessages(label: string) {
  const { page } = browser;
  return page.locator('.v-input', { has: page.getByLabel(label, { exact: true }) });
}

/** The page's HTML with every input's current value: where a leaked secret would show. */
async function everythingOnThePage(): Promise<string> {
  const { page } = browser;
  const values = await page
    .locator('input, textarea')
    .evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
  return `${await page.content()}\n${values.join('\n')}`;
}

async function noAxe(): Promise<void> {
  // A hint still fading in is measured at its half-way colour: let transitions finish first.
  await browser.page.waitForFunction(
    () => !document.querySelector('[class*="-enter-active"], [class*="-leave-active"]'),
  );
  expect(await seriousAxeViolations(browser.page)).toEqual([]);
}

it('creates an HTTP app, an action and a connection whose secret never comes back', async () => {
  try {
    await catalog();
  } catch (err) {
    await browser.page.screenshot({ path: 'test-results/web-catalog-failure.png' });
    throw err;
  }
}, 120_000);

async function catalog(): Promise<void> {
  const { page } = browser;
  await page.goto(`${api.url}/sign-in`);
  // The form is filled only once the app has settled (the session check re-renders it).
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Email').fill('builder@acme.test');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/workflows');

  // The app: a bad key comes back from the server on the Key field.
  await page.goto(`${api.url}/apps`);
  await page.getByRole('link', { name: 'HTTP request' }).waitFor();
  await noAxe();
  await page.getByRole('button', { name: 'New app' }).click();
  await dialogSettled('Key');
  await page.getByLabel('Key', { exact: true }).fill('Fake CRM');
  await page.getByLabel('Name', { exact: true }).fill('Fake CRM');
  await page.getByLabel('Base URL').fill(crm.url);
  await choose('Authentication', 'API key');
  await page.getByLabel('Header name').fill('X-Api-Key');
  // A non-secret setting of each connection, which the connection form is generated from.
  await fillEditor(
    browser.page,
    /^Connection schema/,
    '{ "type": "object", "required": ["accountId"], "properties": { "accountId": { "type": "string", "title": "Account id", "description": "Shown in your CRM settings." } } }',
  );
  await noAxe();
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await fieldMessages('Key').getByText('key must be lower-case letters').waitFor();
  await page.getByLabel('Key', { exact: true }).fill('fake-crm');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: 'Fake CRM' }).waitFor();
  expect(page.url()).toMatch(/\/apps\/[0-9a-f-]{36}$/);
  await noAxe();

  // The action: an invalid schema is refused as it is typed, before any save.
  await page.getByRole('button', { name: 'New action' }).click();
  await dialogSettled('Key');
  await page.getByLabel('Key', { exact: true }).fill('create_contact');
  await page.getByLabel('Name', { exact: true }).fill('Create contact');
  await choose('Method', 'POST');
  await page.getByLabel('Path (or absolute URL)').fill('/contacts/{{ secrets.id }}');
  await fillEditor(browser.page, /^Headers/, '{ "X-Account": "{{ connection.accountId }}" }');
  await fillEditor(browser.page, /^Body/, '{ "email": "{{ input.email }}" }');
  await fillEditor(
    browser.page,
    /^Input schema/,
    '{ "type": "object", "properties": { "email": { "type": "strng" } } }',
  );
  const schemaError = page.getByText(
    'Not a valid JSON Schema at /properties/email/type: must be one of',
  );
  await schemaError.waitFor();
  // Underlined where it is written: the "type" of "email".
  const underline = page.locator('.cm-lintRange-error');
  await underline.waitFor();
  expect(await underline.textContent()).toBe('"type"');
  const create = page.getByRole('button', { name: 'Create', exact: true });
  expect(await create.isDisabled()).toBe(true);
  await noAxe();
  await fillEditor(
    browser.page,
    /^Input schema/,
    '{ "type": "object", "required": ["email"], "properties": { "email": { "type": "string" } } }',
  );
  await schemaError.waitFor({ state: 'detached' });
  // Keywords are completed as they are typed.
  await fillEditor(browser.page, /^Output schema/, '{ "');
  await page.keyboard.type('requ');
  await page.getByRole('option', { name: /required/ }).click();
  await page.keyboard.insertText('": ["id"] }');
  expect(await page.getByRole('textbox', { name: /^Output schema/ }).textContent()).toBe(
    '{ "required": ["id"] }',
  );
  // A template over a root the runner does not offer: the server names the path field.
  await create.click();
  await fieldMessages('Path (or absolute URL)')
    .getByText(/secrets/)
    .waitFor();
  await page.getByLabel('Path (or absolute URL)').fill('/contacts');
  await page.getByLabel('Max attempts').fill('2');
  await create.click();
  await page.getByRole('button', { name: 'Edit action Create contact' }).waitFor();
  await page.getByText('POST /contacts').waitFor();
  await page.getByText('exponential, up to 2 attempts').waitFor();
  await noAxe();

  // The connection: the API key is typed once and never comes back.
  await page.getByRole('link', { name: 'Connections of Fake CRM' }).click();
  await page.getByRole('heading', { name: 'No connections yet' }).waitFor();
  await noAxe();
  await page.getByRole('button', { name: 'New connection' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Acme production');
  await page.getByLabel('API key', { exact: true }).fill(SECRET);
  // The app's schema requires the account id: the server's refusal lands on its field.
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await fieldMessages('Account id')
    .getByText(/required property 'accountId'/)
    .waitFor();
  await page.getByLabel('Account id', { exact: true }).fill('acme-42');
  await noAxe();
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('cell', { name: 'Acme production', exact: true }).waitFor();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  expect(await everythingOnThePage()).not.toContain(SECRET);
  await page.reload();
  await page.getByRole('cell', { name: 'Acme production', exact: true }).waitFor();
  expect(await everythingOnThePage()).not.toContain(SECRET);
  await page.getByRole('button', { name: 'Edit connection Acme production' }).click();
  await page.getByText('Secret set').waitFor();
  await page.getByRole('button', { name: 'Replace secret' }).waitFor();
  expect(await page.getByLabel('API key', { exact: true }).count()).toBe(0);
  expect(await everythingOnThePage()).not.toContain(SECRET);
  await noAxe();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });

  // Test connection: one GET to the base URL with the key, through the gate.
  await page.getByRole('button', { name: 'Test connection Acme production' }).click();
  await page.getByText('Fake CRM answered 201.').waitFor();
  expect(crm.requests).toHaveLength(1);
  expect(crm.requests[0]!.method).toBe('GET');
  expect(crm.requests[0]!.headers['x-api-key']).toBe(SECRET);
  expect(await everythingOnThePage()).not.toContain(SECRET);
  await noAxe();
  crm.requests.length = 0;

  await callThroughAWorkflow();
  expect(browser.problems).toEqual([]);
}

/** What the browser stored is what a run uses: a step built in the editor, with the key. */
async function callThroughAWorkflow(): Promise<void> {
  const cookies = await browser.context.cookies();
  const auth = { cookie: cookies.map((c) => `${c.name}=${c.value}`).join('; ') };
  // The step is built in the workflow editor, from the action and connection made above.
  const { page } = browser;
  await page.goto(`${api.url}/workflows`);
  await page.getByRole('button', { name: 'Create your first workflow' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Contacts');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: 'This workflow has no steps yet' }).waitFor();
  const workflowId = page.url().split('/').at(-1)!;
  await page.getByRole('button', { name: 'Add step' }).click();
  await page.getByLabel('Step id').fill('create');
  await page.getByRole('combobox', { name: 'Action' }).click();
  // Typed: the catalogue has many actions, and the list renders only those in view.
  await page.getByRole('combobox', { name: 'Action' }).fill('Fake CRM · Create contact');
  await page.getByRole('option', { name: 'Fake CRM · Create contact' }).click();
  await choose('Connection', 'Acme production');
  await fillEditor(browser.page, /^Input \(JSON/, '{ "email": "{{ trigger.email }}" }');
  await noAxe();
  await page.getByRole('button', { name: 'Save and publish' }).click();
  await page.getByText('Saved and published as v1').waitFor();

  const started = await api.gql(
    `mutation ($id: ID!, $input: JSON) { triggerWorkflow(workflowId: $id, input: $input) { run { id } } }`,
    { id: workflowId, input: { email: 'ada@example.test' } },
    auth,
  );
  expect(started.errors).toBeUndefined();
  const runId = (started.data as { triggerWorkflow: { run: { id: string } } }).triggerWorkflow.run
    .id;
  // The run, as the builder would look at it: it succeeds having called the fake API.
  await page.goto(`${api.url}/runs/${runId}`);
  await page.getByRole('heading', { name: `Run ${runId.slice(0, 8)}` }).waitFor();
  await page.locator('main').getByText('succeeded').first().waitFor({ timeout: 20_000 });
  await noAxe();
  expect(crm.requests).toHaveLength(1);
  expect(crm.requests[0]!.url).toBe('/contacts');
  expect(crm.requests[0]!.headers['x-api-key']).toBe(SECRET);
  expect(crm.requests[0]!.headers['x-account']).toBe('acme-42');
  expect(JSON.parse(crm.requests[0]!.body)).toEqual({ email: 'ada@example.test' });
}
