/**
 * Issue 17's "done when", in a real browser: a builder imports an OpenAPI document whose
 * security scheme is OAuth 2.0 authorization code at a real local authorization server
 * (oauth2-mock-server), creates a connection for the imported app and connects it at the
 * provider, then a workflow calling one of the imported actions runs with the granted token —
 * refreshed first, transparently, since the provider let it expire after a second.
 */
import { randomUUID } from 'node:crypto';
import { OAuth2Server } from 'oauth2-mock-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Worker } from '../../src/engine/worker.ts';
import { cookieOf, freePort, startTestApi, type TestApi } from '../support/api.ts';
import { openBrowser, seriousAxeViolations, type TestBrowser } from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';
import { startTestWorker } from '../support/test-worker.ts';

let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
let oauth: OAuth2Server;
let notes: LocalServer;
let worker: Worker;
const grants: string[] = [];
const liveAccessTokens = new Set<string>();

function notesDocument(issuer: string, server: string) {
  return {
    openapi: '3.0.3',
    info: { title: 'Notes', version: '1.0.0' },
    servers: [{ url: server }],
    security: [{ oauth: ['notes:write'] }],
    components: {
      securitySchemes: {
        oauth: {
          type: 'oauth2',
          flows: {
            authorizationCode: {
              authorizationUrl: `${issuer}/authorize`,
              tokenUrl: `${issuer}/token`,
              scopes: { 'notes:write': 'Write notes' },
            },
          },
        },
      },
      schemas: {
        Note: {
          type: 'object',
          required: ['text'],
          properties: { id: { type: 'string' }, text: { type: 'string' } },
        },
      },
    },
    paths: {
      '/notes': {
        post: {
          operationId: 'createNote',
          summary: 'Create a note',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Note' } } },
          },
          responses: {
            '201': {
              description: 'created',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Note' } } },
            },
          },
        },
      },
    },
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  oauth = new OAuth2Server();
  await oauth.issuer.keys.generate('RS256');
  await oauth.start(0, '127.0.0.1');
  oauth.service.on('beforeTokenSigning', (token: { payload: Record<string, unknown> }) => {
    token.payload.jti = randomUUID();
  });
  oauth.service.on(
    'beforeResponse',
    (res: { body: Record<string, unknown> }, req: { body: Record<string, string> }) => {
      grants.push(req.body.grant_type ?? '');
      // The granted token lasts a second: the run finds it expired and refreshes first.
      if (req.body.grant_type === 'authorization_code') res.body.expires_in = 1;
      if (typeof res.body.access_token === 'string') liveAccessTokens.add(res.body.access_token);
    },
  );
  notes = await startServer((req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !liveAccessTokens.has(token))
      return sendJson(res, 401, { error: 'invalid_token' });
    const body = JSON.parse(req.body) as { text?: unknown };
    return sendJson(res, 201, { id: 'n_1', text: body.text });
  });
  const port = await freePort();
  const oauthHost = `127.0.0.1:${oauth.address().port}`;
  api = await startTestApi(
    db,
    { PUBLIC_URL: `http://127.0.0.1:${port}`, GATE_ALLOW_HTTP_HOSTS: oauthHost },
    undefined,
    { webApp: true, port },
  );
  worker = startTestWorker(db, {
    allowHttpHosts: [notes.hostPort, oauthHost],
    secretBox: api.secrets,
  });
  browser = await openBrowser();
  browser.page.setDefaultTimeout(10_000);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await api?.close();
  await notes?.close();
  await oauth?.stop();
  await db?.drop();
});

async function noAxe(what: string): Promise<void> {
  await browser.page.waitForFunction(
    () => !document.querySelector('[class*="-enter-active"], [class*="-leave-active"]'),
  );
  const violations = await seriousAxeViolations(browser.page);
  expect(violations, `${what}: ${JSON.stringify(violations)}`).toEqual([]);
}

it('connects at the provider, imports an OpenAPI document and runs one of its actions', async () => {
  try {
    await doneWhen();
  } catch (err) {
    await browser.page.screenshot({ path: 'test-results/web-connect-import-run-failure.png' });
    throw err;
  }
}, 120_000);

async function doneWhen(): Promise<void> {
  const setup = await api.gql(
    `mutation { setup(tenantName: "Acme", email: "builder@acme.test", password: "correct horse battery") { kind } }`,
  );
  expect(setup.errors).toBeUndefined();
  const auth = { cookie: cookieOf(setup.setCookie) };
  const issuer = `http://127.0.0.1:${oauth.address().port}`;
  const { page } = browser;
  await page.goto(`${api.url}/sign-in`);
  await page.waitForLoadState('networkidle');
  await expect
    .poll(() => page.evaluate(() => document.activeElement?.getAttribute('type')))
    .toBe('email');
  await page.getByLabel('Email').fill('builder@acme.test');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/workflows');

  // 1. Import the document: the app authenticates with the provider's authorization code flow.
  await page.goto(`${api.url}/apps`);
  await page.getByRole('button', { name: 'Import from OpenAPI' }).click();
  const dialog = page.getByRole('dialog', { name: 'Import from OpenAPI' });
  await dialog.getByLabel('OpenAPI document', { exact: true }).setInputFiles({
    name: 'notes.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify(notesDocument(issuer, notes.url))),
  });
  await dialog.getByRole('button', { name: 'Preview' }).click();
  await dialog.getByText('oauth2_authorization_code').waitFor();
  await dialog.getByRole('button', { name: 'Create the app' }).click();
  await dialog.getByText('Created the app Notes (notes)').waitFor();
  await dialog.getByRole('button', { name: 'Close' }).click();

  // 2. A connection with the client's credentials, connected at the provider.
  await page.goto(`${api.url}/connections`);
  await page.getByRole('button', { name: 'New connection' }).click();
  const form = page.getByRole('dialog', { name: 'New connection' });
  // The tenant's only own app is chosen already; else pick it from the keyboard.
  const app = form.getByRole('combobox', { name: 'App' });
  if (!(await form.getByText('Notes', { exact: true }).isVisible())) {
    // Keyboard: open the list, go to its last entry (built-ins come first), choose it.
    await app.focus();
    await page.keyboard.press('ArrowDown');
    await page.getByRole('option', { name: 'Notes', exact: true }).waitFor();
    // The list takes the focus once its menu has opened (a transition): End before that
    // would go to the field, and Enter would then choose the list's first entry.
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement;
        return el?.closest('[role="listbox"]') ? (el.textContent ?? '').trim() : null;
      });
    await expect.poll(focused).not.toBeNull();
    await page.keyboard.press('End');
    await expect.poll(focused).toBe('Notes');
    await page.keyboard.press('Enter');
  }
  await form.getByText('Notes', { exact: true }).waitFor();
  await form.getByLabel('Name', { exact: true }).fill('Notes prod');
  await form.getByLabel('Client id', { exact: true }).fill('switchyard');
  await form.getByLabel('Client secret', { exact: true }).fill('cs-1');
  await form.getByRole('button', { name: 'Create' }).click();
  const connect = page.getByRole('button', { name: 'Connect Notes prod at the provider' });
  await connect.waitFor();
  await noAxe('connections');
  await connect.click();
  await page.waitForURL('**/connections?oauth=connected*');
  await page.getByText('Notes prod is connected.').waitFor();
  expect(grants).toEqual(['authorization_code']);

  // 3. A workflow calling the imported action with that connection, run; its page shows it.
  const ids = await api.gql<{
    actions: { nodes: Array<{ id: string; key: string }> };
    connections: { nodes: Array<{ id: string; name: string }> };
  }>(
    '{ actions(search: "note", first: 100) { nodes { id key } } connections(first: 100) { nodes { id name } } }',
    {},
    auth,
  );
  const action = ids.data!.actions.nodes.find((a) => a.key === 'create_note')!;
  const connection = ids.data!.connections.nodes.find((c) => c.name === 'Notes prod')!;
  const wf = await api.gql<{ createWorkflow: { id: string } }>(
    `mutation { createWorkflow(name: "Note it") { id } }`,
    {},
    auth,
  );
  const workflowId = wf.data!.createWorkflow.id;
  const saved = await api.gql(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
    {
      w: workflowId,
      d: {
        steps: [
          {
            id: 'note',
            actionId: action.id,
            connectionId: connection.id,
            input: { body: { text: '{{ trigger.text }}' } },
          },
        ],
      },
    },
    auth,
  );
  expect(saved.errors).toBeUndefined();
  // The granted token has expired by now.
  await new Promise((r) => setTimeout(r, 1_100));
  const run = await api.gql<{ triggerWorkflow: { run: { id: string } } }>(
    `mutation($w: ID!, $i: JSON) { triggerWorkflow(workflowId: $w, input: $i) { run { id } } }`,
    { w: workflowId, i: { text: 'Ship it' } },
    auth,
  );
  expect(run.errors).toBeUndefined();
  const runId = run.data!.triggerWorkflow.run.id;
  await page.goto(`${api.url}/runs/${runId}`);
  await page.getByText('succeeded').first().waitFor({ timeout: 30_000 });
  await noAxe('run');

  expect(grants).toEqual(['authorization_code', 'refresh_token']);
  expect(notes.requests).toHaveLength(1);
  expect(JSON.parse(notes.requests[0]!.body)).toEqual({ text: 'Ship it' });
  const output = await db.ownerPool.query<{ output: unknown }>(
    `select output from step_runs where run_id = $1 and status = 'succeeded'`,
    [runId],
  );
  expect(output.rows[0]?.output).toEqual({ id: 'n_1', text: 'Ship it' });
  expect(browser.problems).toEqual([]);
}
