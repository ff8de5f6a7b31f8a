/**
 * "Connect" on the connections page in a real browser: the page sends the browser to a real
 * local authorization server (oauth2-mock-server, auto-approving), which sends it back to
 * /oauth/callback; the page then says the connection is connected. A replayed callback is
 * refused, and the page says what to do. Axe on every page visited.
 */
import { OAuth2Server } from 'oauth2-mock-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cookieOf, freePort, startTestApi, type TestApi } from '../support/api.ts';
import { openBrowser, seriousAxeViolations, type TestBrowser } from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
let oauth: OAuth2Server;

beforeAll(async () => {
  db = await createTestDatabase();
  oauth = new OAuth2Server();
  await oauth.issuer.keys.generate('RS256');
  await oauth.start(0, '127.0.0.1');
  const port = await freePort();
  api = await startTestApi(
    db,
    {
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      GATE_ALLOW_HTTP_HOSTS: `127.0.0.1:${oauth.address().port}`,
    },
    undefined,
    { webApp: true, port },
  );
  browser = await openBrowser();
  browser.page.setDefaultTimeout(10_000);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await oauth?.stop();
  await db?.drop();
});

async function expectAccessible(what: string): Promise<void> {
  const violations = await seriousAxeViolations(browser.page);
  expect(violations, `${what}: ${JSON.stringify(violations)}`).toEqual([]);
}

it('connects an OAuth connection through the provider and back', async () => {
  const setup = await api.gql(
    `mutation { setup(tenantName: "Acme", email: "builder@acme.test", password: "correct horse battery") { kind } }`,
  );
  expect(setup.errors).toBeUndefined();
  const auth = { cookie: cookieOf(setup.setCookie) };
  const issuer = `http://127.0.0.1:${oauth.address().port}`;
  const app = await api.gql<{ createApp: { id: string } }>(
    `mutation($i: AppInput!) { createApp(input: $i) { id } }`,
    {
      i: {
        key: 'crm',
        name: 'CRM',
        baseUrl: 'https://crm.example.test',
        authKind: 'oauth2_authorization_code',
        authConfig: { authorizeUrl: `${issuer}/authorize`, tokenUrl: `${issuer}/token` },
      },
    },
    auth,
  );
  expect(app.errors).toBeUndefined();
  const conn = await api.gql(
    `mutation($a: ID!, $s: JSON) { createConnection(appId: $a, name: "CRM prod", secret: $s) { id } }`,
    { a: app.data!.createApp.id, s: { clientId: 'switchyard', clientSecret: 'cs-1' } },
    auth,
  );
  expect(conn.errors).toBeUndefined();

  const { page } = browser;
  await page.goto(`${api.url}/sign-in`);
  // The email field takes the focus once the page is ready: typing before that would land in it.
  await page.waitForLoadState('networkidle');
  await expect
    .poll(() => page.evaluate(() => document.activeElement?.getAttribute('type')))
    .toBe('email');
  await page.getByLabel('Email').fill('builder@acme.test');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/workflows');
  await page.goto(`${api.url}/connections`);
  const connect = page.getByRole('button', { name: 'Connect CRM prod at the provider' });
  await connect.waitFor();
  await expectAccessible('connections');
  // Keyboard: focus the button and press Enter.
  await connect.focus();
  let callbackUrl = '';
  page.on('request', (r) => {
    if (r.url().includes('/oauth/callback')) callbackUrl = r.url();
  });
  await page.keyboard.press('Enter');
  await page.waitForURL('**/connections?oauth=connected*');
  await page.getByText('CRM prod is connected.').waitFor();
  await expectAccessible('connected');

  // The same callback again (a replay) is refused, and the page says so.
  expect(callbackUrl).toContain('state=');
  await page.goto(callbackUrl);
  await page.waitForURL('**/connections?oauth_error=E_OAUTH_STATE_USED*');
  await page.getByText(/already used\. Use Connect again\. \(E_OAUTH_STATE_USED\)/).waitFor();
  await expectAccessible('replayed');
  expect(browser.problems).toEqual([]);
}, 60_000);
