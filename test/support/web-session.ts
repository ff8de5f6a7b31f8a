/**
 * What the admin and operator browser tests share: a database, the API serving the built web
 * app, a test worker, Chromium, and a tenant set up by its owner (signed in: `cookie`), with
 * helpers to call GraphQL as that owner, keep a screenshot of a failing scenario, and run axe
 * once the page's animations have settled.
 */
import { expect } from 'vitest';
import type { Worker } from '../../src/engine/worker.ts';
import { cookieOf, startTestApi, type TestApi } from './api.ts';
import { openBrowser, seriousAxeViolations, type TestBrowser } from './browser.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { startTestWorker } from './test-worker.ts';

export const OWNER = { email: 'ops@acme.test', password: 'correct horse battery' };

export type WebSession = {
  db: TestDatabase;
  api: TestApi;
  browser: TestBrowser;
  worker: Worker;
  /** The owner's session cookie (from `setup`). */
  cookie: string;
  /** GraphQL as the owner; fails the test on any error. */
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T>;
  /** Runs a browser scenario; on failure keeps `test-results/<prefix>-<name>-failure.png`. */
  scenario(name: string, fn: () => Promise<void>): Promise<void>;
  /** Signs in through the sign-in page (cookies cleared first), typing once the page is ready. */
  signInAs(email: string, password: string): Promise<void>;
  /** Axe on the page as people read it (seriousAxeViolations waits for animations to end). */
  expectNoAxeViolations(): Promise<void>;
  close(): Promise<void>;
};

export async function openWebSession(prefix: string): Promise<WebSession> {
  const db = await createTestDatabase();
  const api = await startTestApi(db, {}, undefined, { webApp: true });
  const worker = startTestWorker(db);
  const browser = await openBrowser();
  browser.page.setDefaultTimeout(10_000);
  const setup = await api.gql(
    `mutation($e: String!, $p: String!) { setup(tenantName: "Acme", email: $e, password: $p) { kind } }`,
    { e: OWNER.email, p: OWNER.password },
  );
  expect(setup.errors).toBeUndefined();
  const cookie = cookieOf(setup.setCookie);
  return {
    db,
    api,
    browser,
    worker,
    cookie,
    async gql<T>(query: string, variables: Record<string, unknown> = {}) {
      const res = await api.gql<T>(query, variables, { cookie });
      expect(res.errors).toBeUndefined();
      return res.data!;
    },
    async scenario(name, fn) {
      try {
        await fn();
      } catch (err) {
        await browser.page.screenshot({ path: `test-results/${prefix}-${name}-failure.png` });
        throw err;
      }
    },
    async signInAs(email, password) {
      const { page } = browser;
      await page.context().clearCookies();
      await page.goto(`${api.url}/sign-in`);
      // The email field takes the focus once the page is ready: typing before that would land in it.
      await expect
        .poll(() => page.evaluate(() => document.activeElement?.getAttribute('type')))
        .toBe('email');
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL('**/workflows');
    },
    async expectNoAxeViolations() {
      expect(await seriousAxeViolations(browser.page)).toEqual([]);
    },
    async close() {
      await browser.close();
      await worker.stop();
      await api.close();
      await db.drop();
    },
  };
}
