/**
 * The Health page in a real browser: runs a real worker executed counted per minute by outcome
 * (in words and in a uPlot chart, with its numbers as a table), the p95 per action, an open
 * circuit breaker reset from the keyboard through a confirm dialog and audited; and an editor
 * who opens the page by its address is told that it is for admins.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type TestApi } from '../support/api.ts';
import { tourShot, type TestBrowser } from '../support/browser.ts';
import { OWNER, openWebSession, type WebSession } from '../support/web-session.ts';
import type { TestDatabase } from '../support/db.ts';

let session: WebSession;
let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
const EDITOR = { email: 'bea@acme.test', password: 'bea password 123' };

beforeAll(async () => {
  session = await openWebSession('web-health');
  ({ db, api, browser } = session);
}, 60_000);
afterAll(async () => {
  await session?.close();
});

const gql = <T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}) =>
  session.gql<T>(query, variables);
const scenario = (name: string, fn: () => Promise<void>) => session.scenario(name, fn);
const expectNoAxeViolations = () => session.expectNoAxeViolations();
const signInAs = (email: string, password: string) => session.signInAs(email, password);

/** A one-step workflow whose JavaScript action runs `code` once (no retries). */
async function workflowRunning(key: string, code: string): Promise<string> {
  const app = await gql<{ createApp: { id: string } }>(
    `mutation($k: String!) { createApp(input: { key: $k, name: $k, authKind: none }) { id } }`,
    { k: `app-${key}` },
  );
  const action = await gql<{ createAction: { id: string } }>(
    `mutation($input: ActionInput!) { createAction(input: $input) { id } }`,
    {
      input: {
        appId: app.createApp.id,
        key,
        name: key,
        kind: 'javascript',
        maxAttempts: 1,
        implementation: { code },
      },
    },
  );
  const wf = await gql<{ createWorkflow: { id: string } }>(
    `mutation($n: String!) { createWorkflow(name: $n) { id } }`,
    { n: key },
  );
  await gql(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
    {
      w: wf.createWorkflow.id,
      d: { steps: [{ id: 'only', actionId: action.createAction.id, input: {} }] },
    },
  );
  return wf.createWorkflow.id;
}

it('shows the last hour of runs in figures and charts, and resets an open breaker, audited', async () => {
  const ok = await workflowRunning('fast', 'return { ok: true };');
  const bad = await workflowRunning('broken', "throw new Error('no');");
  for (const w of [ok, ok, ok, bad]) {
    await gql(`mutation($w: ID!) { triggerWorkflow(workflowId: $w) { run { id } } }`, { w });
  }
  await expect
    .poll(
      async () => {
        const r = await gql<{ runs: { nodes: { status: string }[] } }>(
          `{ runs(first: 10) { nodes { status } } }`,
        );
        return r.runs.nodes.map((n) => n.status).sort();
      },
      { timeout: 30_000, interval: 250 },
    )
    .toEqual(['failed', 'succeeded', 'succeeded', 'succeeded']);
  const tenant = await db.ownerPool.query<{ id: string }>(`select id from tenants limit 1`);
  await db.ownerPool.query(
    `insert into circuit_breakers (tenant_id, host, connection_key, state, failures, open_until, opened_at)
     values ($1, 'api.flaky.test', '', 'open', 5, now() + interval '10 minutes', now())`,
    [tenant.rows[0]!.id],
  );

  await scenario('main', async () => {
    const { page } = browser;
    await signInAs(OWNER.email, OWNER.password);
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Health' })
      .click();
    await page.getByRole('heading', { name: 'Health', level: 1 }).waitFor();
    await page.getByText('In the last hour: 3 succeeded, 1 failed, 0 dead, 0 canceled.').waitFor();
    await expect.poll(() => page.locator('[data-figure="due"]').textContent()).toBe('0');
    // Two uPlot charts drew on their canvases.
    await expect.poll(() => page.locator('[data-testid="health-chart"] canvas').count()).toBe(2);
    const fast = page.getByRole('row').filter({ hasText: 'app-fast.fast' });
    await expect.poll(() => fast.getByRole('cell').nth(1).textContent()).toBe('3');
    await tourShot(page, '6-health');
    await page.getByText('Show the numbers').first().click();
    const numbers = page.getByRole('table', { name: /Runs finished per minute/ });
    // Its columns (succeeded, failed, dead, canceled) add up to what the summary says.
    const sums = async () => {
      const rows = await numbers
        .locator('tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => Number(td.textContent))),
        );
      return rows.reduce((a, r) => a.map((v, i) => v + (r[i] ?? 0)), [0, 0, 0, 0]);
    };
    await expect.poll(sums).toEqual([3, 1, 0, 0]);
    await expectNoAxeViolations();

    // The breaker: listed with its host, reset from the keyboard after a confirmation.
    const row = page.getByRole('row').filter({ hasText: 'api.flaky.test' });
    await row.getByText('open (failing fast)').waitFor();
    await row.getByRole('button', { name: 'Reset the breaker of api.flaky.test' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Reset circuit breaker' });
    await dialog.getByText('The reset is recorded in the audit trail.').waitFor();
    await expectNoAxeViolations();
    // Closed meanwhile (a probe succeeded): the dialog says so, with the code.
    await db.ownerPool.query(
      `update circuit_breakers set state = 'closed' where host = 'api.flaky.test'`,
    );
    await dialog.getByRole('button', { name: 'Reset' }).click();
    await dialog.getByText('No open circuit breaker for this host. (E_NOT_FOUND)').waitFor();
    await expectNoAxeViolations();
    await db.ownerPool.query(
      `update circuit_breakers set state = 'open' where host = 'api.flaky.test'`,
    );
    await dialog.getByRole('button', { name: 'Reset' }).click();
    await page.getByText('The breaker of api.flaky.test is closed').waitFor();
    await page.getByText('None: every external host answers.').waitFor();
    await expectNoAxeViolations();

    // Live: a run that ends while the page is open is counted without reloading it.
    await gql(`mutation($w: ID!) { triggerWorkflow(workflowId: $w) { run { id } } }`, { w: ok });
    await page
      .getByText('In the last hour: 4 succeeded, 1 failed, 0 dead, 0 canceled.')
      .waitFor({ timeout: 20_000 });
  });
  const audit = await db.ownerPool.query(
    `select actor_kind, target_id from audit_events where action = 'circuit_breaker.reset'`,
  );
  expect(audit.rows).toEqual([{ actor_kind: 'user', target_id: 'api.flaky.test' }]);
  expect(browser.problems).toEqual([]);
}, 90_000);

it('tells an editor who opens the page that it is for admins, and hides it from the nav', async () => {
  const invited = await gql<{ inviteMember: { link: string } }>(
    `mutation($e: String!) { inviteMember(email: $e, role: editor) { link } }`,
    { e: EDITOR.email },
  );
  const token = decodeURIComponent(invited.inviteMember.link.split('#')[1] ?? '');
  const accepted = await api.gql(
    `mutation($t: String!, $p: String) { acceptInvitation(token: $t, password: $p) { email } }`,
    { t: token, p: EDITOR.password },
  );
  expect(accepted.errors).toBeUndefined();

  await scenario('editor', async () => {
    const { page } = browser;
    await signInAs(EDITOR.email, EDITOR.password);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Runs' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Health' }).count()).toBe(0);
    await page.goto(`${api.url}/health`);
    await page
      .getByRole('alert')
      .getByText(/The health dashboard is for admins and owners.*E_FORBIDDEN/)
      .waitFor();
    await expectNoAxeViolations();
  });
  expect(browser.problems).toEqual([]);
}, 60_000);
