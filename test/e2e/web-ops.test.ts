/**
 * Operators' pages in a real browser: the execution-log search across runs (text, level,
 * workflow, time; a result links to its run and step; a backwards range refused on the field;
 * nothing found says what to do). Each page is checked with axe; actions are keyboard reachable.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cookieOf, type TestApi } from '../support/api.ts';
import { type TestBrowser } from '../support/browser.ts';
import { OWNER, openWebSession, type WebSession } from '../support/web-session.ts';
import type { TestDatabase } from '../support/db.ts';

let session: WebSession;
let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
let cookie: string;

beforeAll(async () => {
  session = await openWebSession('web-ops');
  ({ db, api, browser, cookie } = session);
}, 60_000);
afterAll(async () => {
  await session?.close();
});

const gql = <T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}) =>
  session.gql<T>(query, variables);
const scenario = (name: string, fn: () => Promise<void>) => session.scenario(name, fn);
const expectNoAxeViolations = () => session.expectNoAxeViolations();
const signIn = () => session.signInAs(OWNER.email, OWNER.password);

async function openFromNav(title: string): Promise<void> {
  await browser.page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: title })
    .click();
  await browser.page.getByRole('heading', { name: title, level: 1 }).waitFor();
}

/** A workflow whose code step logs an info and a warning line per run; `n` runs of it. */
async function makeLoggingRuns(n: number): Promise<string[]> {
  const app = await gql<{ createApp: { id: string } }>(
    `mutation { createApp(input: { key: "billing", name: "Billing", authKind: none }) { id } }`,
  );
  const action = await gql<{ createAction: { id: string } }>(
    `mutation($input: ActionInput!) { createAction(input: $input) { id } }`,
    {
      input: {
        appId: app.createApp.id,
        key: 'charge',
        name: 'Charge',
        kind: 'javascript',
        maxAttempts: 1,
        implementation: {
          code: "console.log('checked card of ' + input.sku); console.warn('payment declined for ' + input.sku); return {};",
        },
      },
    },
  );
  const wf = await gql<{ createWorkflow: { id: string } }>(
    `mutation { createWorkflow(name: "Charge orders") { id } }`,
  );
  await gql(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
    {
      w: wf.createWorkflow.id,
      d: {
        steps: [
          { id: 'charge', actionId: action.createAction.id, input: { sku: '{{ trigger.sku }}' } },
        ],
      },
    },
  );
  const runs: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await gql<{ triggerWorkflow: { run: { id: string } } }>(
      `mutation($w: ID!, $i: JSON) { triggerWorkflow(workflowId: $w, input: $i) { run { id } } }`,
      { w: wf.createWorkflow.id, i: { sku: `SKU-${i + 1}` } },
    );
    runs.push(r.triggerWorkflow.run.id);
  }
  await expect
    .poll(
      async () =>
        (
          await gql<{ executionLogs: { nodes: unknown[] } }>(
            `{ executionLogs(filter: { text: "declined" }) { nodes { id } } }`,
          )
        ).executionLogs.nodes.length,
      { timeout: 30_000, interval: 250 },
    )
    .toBe(n);
  return runs;
}

it('searches the execution logs across runs and opens a line’s run at its step', async () => {
  const runs = await makeLoggingRuns(3);
  await scenario('logs', async () => {
    const { page } = browser;
    await signIn();
    await openFromNav('Execution logs');
    const rows = page.locator('tbody tr');
    // Each run logs its two lines (and the runner's own).
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(6);
    await expectNoAxeViolations();

    // Text, by keyboard: the three warnings, each naming its run and step.
    await page.getByRole('textbox', { name: 'Text' }).fill('DECLINED for sku-2');
    await page.keyboard.press('Enter');
    await expect.poll(() => rows.count()).toBe(1);
    await page.getByText('payment declined for SKU-2').waitFor();
    await page.getByRole('textbox', { name: 'Text' }).fill('declined');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => rows.count()).toBe(3);
    // Newest first; the runs ran concurrently, so which one logged last is not known.
    for (const sku of ['SKU-1', 'SKU-2', 'SKU-3'])
      await page.getByText(`payment declined for ${sku}`).waitFor();
    await expectNoAxeViolations();

    // Nothing found says what to try.
    await page.getByRole('textbox', { name: 'Text' }).fill('no such words here');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('heading', { name: 'No log line matches' }).waitFor();

    // A range that ends before it starts is refused on the field.
    await page.getByLabel('From', { exact: true }).fill('2026-05-02T00:00');
    await page.getByLabel('To', { exact: true }).fill('2026-05-01T00:00');
    await page.getByText('“To” must be after “From”.').waitFor();
    await expectNoAxeViolations();
    await page.getByLabel('From', { exact: true }).fill('');
    await page.getByLabel('To', { exact: true }).fill('');

    // A line links to its run, at the step that logged it.
    await page.getByRole('textbox', { name: 'Text' }).fill('declined for SKU-1');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => rows.count()).toBe(1);
    await page.getByRole('link', { name: `run ${runs[0]!.slice(0, 8)} · charge` }).click();
    await page.waitForURL(`**/runs/${runs[0]}#step-*`);
    await page.getByRole('heading', { name: `Run ${runs[0]!.slice(0, 8)}` }).waitFor();
    const stepAnchor = new URL(page.url()).hash.slice(1);
    await page.locator(`[id="${stepAnchor}"]`).waitFor();
    await expectNoAxeViolations();
  });
  expect(browser.problems).toEqual([]);
}, 90_000);

it('shows the retention per kind of data with its allowed range, saves it, and refuses a value out of range on its field', async () => {
  await scenario('tenant-settings', async () => {
    const { page } = browser;
    await signIn();
    await openFromNav('Tenant settings');
    const runs = page.getByRole('row', { name: /^Runs/ });
    await runs.getByText('1 to 3650 days').waitFor();
    await page
      .getByRole('row', { name: /^Audit trail/ })
      .getByText('30 to 3650 days')
      .waitFor();
    await page.getByText('Set by the operator (RETENTION_ACCESS_LOG_DAYS)').waitFor();
    await expectNoAxeViolations();

    const audit = page.getByRole('spinbutton', { name: 'Audit trail: days' });
    await audit.fill('7');
    await page.getByRole('button', { name: 'Save retention' }).click();
    await page.getByText(/can be kept 30 to 3650 days/).waitFor();
    await expectNoAxeViolations();
    await audit.fill('400');
    await page.getByRole('spinbutton', { name: 'Runs: days' }).fill('30');
    await page.getByRole('button', { name: 'Save retention' }).focus();
    await page.keyboard.press('Enter');
    await page.getByText('Retention saved.').waitFor();
    await runs.getByRole('cell', { name: '30 days', exact: true }).waitFor();
    const saved = await gql<{
      tenantSettings: { retention: { runs: { days: number }; auditEvents: { days: number } } };
    }>(`{ tenantSettings { retention { runs { days } auditEvents { days } } } }`);
    expect(saved.tenantSettings.retention).toEqual({
      runs: { days: 30 },
      auditEvents: { days: 400 },
    });
  });
  expect(browser.problems).toEqual([]);
}, 60_000);

it('configures failure notifications: an address refused on its field, an email, a webhook with its secret shown once, a deletion', async () => {
  await scenario('notifications', async () => {
    const { page } = browser;
    await signIn();
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Notifications' })
      .click();
    await page.getByRole('heading', { name: 'Nobody is told about failures yet' }).waitFor();
    await expectNoAxeViolations();

    await page.getByRole('button', { name: 'New notification' }).click();
    const dialog = page.getByRole('dialog', { name: 'New failure notification' });
    await dialog.getByRole('textbox', { name: 'Email address' }).fill('not an address');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.getByText('Enter an email address.').waitFor();
    await expectNoAxeViolations();
    await dialog.getByRole('textbox', { name: 'Email address' }).fill('oncall@acme.test');
    await page.keyboard.press('Enter');
    await page.getByRole('cell', { name: 'Email: oncall@acme.test' }).waitFor();

    await page.getByRole('button', { name: 'New notification' }).click();
    await dialog.getByLabel('A webhook (Slack, Teams, …)').check();
    await dialog
      .getByRole('textbox', { name: 'Webhook URL' })
      .fill('https://hooks.example.test/services/T1');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.getByText('Webhook notification created').waitFor();
    const secret = await page
      .getByRole('textbox', { name: 'Signing secret (shown once)' })
      .inputValue();
    expect(secret).toMatch(/^whsec_/);
    await expectNoAxeViolations();
    await page.getByRole('button', { name: 'I have copied the secret' }).click();
    expect(await page.getByText('Webhook notification created').count()).toBe(0);

    await page.getByRole('button', { name: 'Delete the notification to oncall@acme.test' }).click();
    await page
      .getByRole('dialog', { name: 'Delete notification' })
      .getByRole('button', { name: 'Delete' })
      .click();
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
    const audit = await db.ownerPool.query<{ action: string }>(
      `select action from audit_events where action like 'failure_notification.%' order by seq`,
    );
    expect(audit.rows.map((r) => r.action)).toEqual([
      'failure_notification.created',
      'failure_notification.created',
      'failure_notification.deleted',
    ]);
  });
  expect(browser.problems).toEqual([]);
}, 60_000);

it('changes the password (the current one checked on its field), lists the sessions and signs out the others', async () => {
  await scenario('account', async () => {
    const { page } = browser;
    await signIn();
    await page.getByRole('button', { name: 'Account' }).click();
    await page.getByRole('link', { name: 'Your account' }).click();
    await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor();
    await page.getByText('this browser').waitFor();
    await expectNoAxeViolations();

    await page.getByLabel('Current password').fill('not the password');
    await page.getByLabel('New password').fill('a brand new password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('The current password is wrong.').waitFor();
    await expectNoAxeViolations();
    await page.getByLabel('Current password').fill(OWNER.password);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText(/Password changed\. \d+ other sessions? signed out\./).waitFor();
    // The API session of this test was one of them.
    const old = await api.gql('{ mySessions { id } }', {}, { cookie });
    expect(old.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
    OWNER.password = 'a brand new password';

    // Another browser signs in; this one signs it out.
    const other = await api.gql(
      `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { email } }`,
      { e: OWNER.email, p: OWNER.password },
    );
    cookie = cookieOf(other.setCookie);
    await page.reload();
    await page.getByRole('button', { name: 'Sign out other sessions' }).focus();
    await page.keyboard.press('Enter');
    await page.getByText('1 other session signed out.').waitFor();
    expect(
      (await api.gql('{ mySessions { id } }', {}, { cookie })).errors?.[0]?.extensions?.code,
    ).toBe('E_UNAUTHENTICATED');
    await expect
      .poll(() => page.getByRole('button', { name: 'Sign out other sessions' }).count())
      .toBe(0);
    await expectNoAxeViolations();
  });
  expect(browser.problems).toEqual([]);
}, 60_000);
