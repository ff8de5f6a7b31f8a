/**
 * The web app in a real browser against a real API and database: a fresh install's setup,
 * sign-in and sign-out, a session that expires mid-use, the pages' empty states, user data
 * that must stay text, the security headers of every HTML answer, keyboard access, and axe
 * (no serious or critical violation) on every page in both themes.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
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

const EMAIL = 'builder@acme.test';
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, {}, undefined, { webApp: true });
  browser = await openBrowser();
  browser.page.setDefaultTimeout(8_000);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await db?.drop();
});

async function expectAccessible(what: string): Promise<void> {
  const violations = await seriousAxeViolations(browser.page);
  expect(violations, `${what}: ${JSON.stringify(violations)}`).toEqual([]);
}

/**
 * Vuetify eases colours between themes: judge contrast once the heading is light. The browser
 * reports colours in any CSS syntax (oklab() mid-transition), so read them back through a canvas.
 */
async function settledDark(): Promise<void> {
  await browser.page.waitForFunction(() => {
    const h1 = document.querySelector('main h1');
    if (!h1) return false;
    const ctx = document.createElement('canvas').getContext('2d')!;
    ctx.fillStyle = getComputedStyle(h1).color;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b] = ctx.getImageData(0, 0, 1, 1).data;
    return r! > 200 && g! > 200 && b! > 200;
  });
}

describe('the web app', () => {
  it('is served at / with a strict CSP, and its hashed assets are immutable', async () => {
    for (const path of ['/', '/runs', '/workflows/anything']) {
      const res = await fetch(`${api.url}${path}`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      const html = await res.text();
      // No inline script: every <script> that runs has a src (JSON data blocks do not run).
      const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)([^>]*)>/g)].filter(
        (m) => !/application\/json/.test(m[1] ?? ''),
      );
      expect(inline).toEqual([]);
    }
    const html = await (await fetch(api.url)).text();
    const asset = /src="(\/_nuxt\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const res = await fetch(`${api.url}${asset}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${api.url}/_nuxt/missing.js`)).status).toBe(404);
    // The API's own routes are not swallowed by the app.
    expect((await fetch(`${api.url}/livez`)).status).toBe(200);
  });

  it('sends a fresh install to setup, shows what to fix, and signs the owner in', async () => {
    const { page } = browser;
    await page.goto(`${api.url}/workflows`);
    await page.waitForURL('**/setup');
    await page.getByRole('heading', { name: 'Set up Switchyard' }).waitFor();
    await tourShot(page, '1-setup');
    await expectAccessible('setup');
    await page.getByLabel('Tenant name').fill('Acme');
    await page.getByLabel('Your email').fill(EMAIL);
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create tenant and sign in' }).click();
    await page.getByText('Choose a password of at least 10 characters.').waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create tenant and sign in' }).click();
    await page.waitForURL('**/workflows');
    await page.getByRole('heading', { name: 'No workflows yet' }).waitFor();
    await tourShot(page, '2-workflows-empty');
    await expectAccessible('workflows, empty');
  });

  it('keeps a workflow named like markup as text, and nothing runs', async () => {
    const { page } = browser;
    const evil = '<img src=x onerror=alert(1)>';
    await page.getByRole('button', { name: 'Create your first workflow' }).click();
    await page.getByLabel('Name', { exact: true }).fill(evil);
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.getByRole('heading', { name: evil }).waitFor();
    expect(await page.locator('main img').count()).toBe(0);
    await expectAccessible('workflow editor, empty');
    await page.getByRole('link', { name: 'All workflows' }).click();
    await page.getByRole('link', { name: evil }).waitFor();
    expect(await page.locator('main img').count()).toBe(0);
    await expectAccessible('workflows, one');
  });

  it('shows every page with an empty state that says what to do next', async () => {
    const { page } = browser;
    await page.getByRole('link', { name: 'Runs' }).click();
    await page.getByRole('heading', { name: 'No runs yet' }).waitFor();
    await expectAccessible('runs');
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('heading', { name: 'No connections yet' }).waitFor();
    await expectAccessible('connections');
    await page.getByRole('link', { name: 'Apps' }).click();
    await page.getByText('HTTP request', { exact: false }).first().waitFor();
    await expectAccessible('apps');
  });

  it('is usable by keyboard: the first Tab reaches "Skip to content"', async () => {
    const { page } = browser;
    await page.goto(`${api.url}/workflows`);
    await page.getByRole('heading', { name: 'Workflows' }).waitFor();
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
    expect(focused).toBe('Skip to content');
  });

  it('answers an address it does not have with its own page: what happened, the way back', async () => {
    const { page } = browser;
    await page.goto(`${api.url}/settings/no-such-page`);
    await page.getByRole('heading', { name: 'This page does not exist' }).waitFor();
    await page.getByText('/settings/no-such-page').waitFor();
    await expectAccessible('not found');
    await page.getByRole('link', { name: 'Go to workflows' }).click();
    await page.waitForURL('**/workflows');
    await page.getByRole('heading', { name: 'Workflows' }).waitFor();
  });

  it('passes axe in the dark theme too', async () => {
    const { page } = browser;
    onTestFinished(async () => {
      const light = page.getByRole('button', { name: 'Use the light theme' });
      if (await light.isVisible()) await light.click();
    });
    await page.getByRole('button', { name: 'Use the dark theme' }).click();
    await page.getByRole('button', { name: 'Use the light theme' }).waitFor();
    await settledDark();
    await expectAccessible('workflows, dark');
    await page.getByRole('link', { name: 'Runs' }).click();
    await page.getByRole('heading', { name: 'No runs yet' }).waitFor();
    await settledDark();
    await expectAccessible('runs, dark');
  });

  it('sends an expired session to sign-in and back to the page the user was on', async () => {
    const { page } = browser;
    await page.goto(`${api.url}/workflows`);
    await page.getByRole('heading', { name: 'Workflows' }).waitFor();
    // The session ends as an expiry would (the owner's pool sees around row security).
    await db.ownerPool.query("update sessions set expires_at = now() - interval '1 second'");
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.waitForURL(/\/sign-in\?/);
    await page.getByText('Your session ended').waitFor();
    await expectAccessible('sign-in');
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill('wrong password!');
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The error says what went wrong and carries the registry's code.
    await page
      .getByRole('alert')
      .filter({ hasText: /\(E_[A-Z_]+\)/ })
      .waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/connections');
  });

  it('signs out, and a signed-out visitor is sent to sign-in', async () => {
    const { page } = browser;
    await page.getByRole('button', { name: 'Account' }).click();
    await page
      .getByRole('menuitem', { name: 'Sign out' })
      .or(page.getByText('Sign out'))
      .first()
      .click();
    await page.waitForURL('**/sign-in');
    await page.goto(`${api.url}/runs`);
    await page.waitForURL(/\/sign-in\?next=(%2F|\/)runs$/);
  });

  it('saw no console error, CSP violation or dialog on the way', () => {
    // A failed sign-in answers 200 with an error body; the browser logs nothing for it.
    expect(browser.problems).toEqual([]);
  });
});
