/**
 * The operators' and admins' pages in a real browser: failures (dead letters made by a
 * JavaScript step that throws, with one attempt) listed, filtered, inspected and replayed, one
 * and then several, from the start and from the failed step; API tokens; members and
 * invitations; the audit trail with its chain verified and exported. Each page is checked with
 * axe and driven with the keyboard where it matters; a viewer does not see what it cannot use.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStepExecutor } from '../../src/cli/executor.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import { cookieOf, startTestApi, type TestApi } from '../support/api.ts';
import { openBrowser, seriousAxeViolations, type TestBrowser } from '../support/browser.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps } from '../support/engine-factories.ts';
import { gateConfig } from '../support/runner-harness.ts';

let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;
let worker: Worker;
let cookie: string;

const OWNER = { email: 'ops@acme.test', password: 'correct horse battery' };

async function gql<T = Record<string, unknown>>(
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const res = await api.gql<T>(query, variables, { cookie });
  expect(res.errors).toBeUndefined();
  return res.data!;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, {}, undefined, { webApp: true });
  const executor = createStepExecutor({
    logger: testLogger,
    pool: db.pool,
    config: {
      gate: gateConfig([]),
      code: {
        memoryLimitMb: 32,
        timeoutMs: 5_000,
        pythonPath: 'python3',
        bwrapPath: '/usr/bin/bwrap',
        warmPoolSize: 0,
      },
      breaker: { failureThreshold: 100, cooldownMs: 1_000 },
    },
  });
  worker = createWorker(engineDeps(db.pool), { executor, listenUrl: db.appUrl });
  worker.start();
  browser = await openBrowser();
  browser.page.setDefaultTimeout(10_000);
  const setup = await api.gql(
    `mutation($e: String!, $p: String!) { setup(tenantName: "Acme", email: $e, password: $p) { kind } }`,
    { e: OWNER.email, p: OWNER.password },
  );
  expect(setup.errors).toBeUndefined();
  cookie = cookieOf(setup.setCookie);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await api?.close();
  await db?.drop();
});

/** Runs a browser scenario; on failure keeps a screenshot to look at. */
async function scenario(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    await browser.page.screenshot({ path: `test-results/web-admin-${name}-failure.png` });
    throw err;
  }
}

async function expectNoAxeViolations(): Promise<void> {
  expect(await seriousAxeViolations(browser.page)).toEqual([]);
}

type DeadLetterList = { deadLetters: { id: string; runId: string; replayRunId: string | null }[] };

/** A workflow whose only step throws, with one attempt: each run ends as a dead letter. */
async function makeFailures(n: number): Promise<void> {
  const app = await gql<{ createApp: { id: string } }>(
    `mutation { createApp(input: { key: "inventory", name: "Inventory", authKind: none }) { id } }`,
  );
  const action = await gql<{ createAction: { id: string } }>(
    `mutation($input: ActionInput!) { createAction(input: $input) { id } }`,
    {
      input: {
        appId: app.createApp.id,
        key: 'reserve',
        name: 'Reserve stock',
        kind: 'javascript',
        maxAttempts: 1,
        implementation: { code: "throw new Error('The warehouse said no for ' + input.sku);" },
      },
    },
  );
  const wf = await gql<{ createWorkflow: { id: string } }>(
    `mutation { createWorkflow(name: "Reserve stock") { id } }`,
  );
  await gql(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
    {
      w: wf.createWorkflow.id,
      d: {
        steps: [
          { id: 'reserve', actionId: action.createAction.id, input: { sku: '{{ trigger.sku }}' } },
        ],
      },
    },
  );
  for (let i = 0; i < n; i++) {
    await gql(
      `mutation($w: ID!, $i: JSON) { triggerWorkflow(workflowId: $w, input: $i) { run { id } } }`,
      {
        w: wf.createWorkflow.id,
        i: { sku: `SKU-${i + 1}` },
      },
    );
  }
  await expect
    .poll(
      async () =>
        (await gql<DeadLetterList>(`{ deadLetters { id runId replayRunId } }`)).deadLetters.length,
      { timeout: 30_000, interval: 250 },
    )
    .toBe(n);
}

it('lists failures, filters them, shows one and replays one and then several', async () => {
  await makeFailures(2);
  await scenario('failures', async () => {
    const { page } = browser;
    await page.goto(`${api.url}/sign-in`);
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByLabel('Password').fill(OWNER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/workflows');

    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Failures' })
      .click();
    await page.getByRole('heading', { name: 'Failures' }).waitFor();
    const rows = page.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    await page.getByText('The warehouse said no for SKU-1').waitFor();
    await expectNoAxeViolations();

    // A filter that matches nothing says so, and how to see everything again.
    await page.getByRole('textbox', { name: 'Error code' }).fill('E_NOTHING_LIKE_THIS');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'No failure matches these filters' }).waitFor();
    await expectNoAxeViolations();
    await page.getByRole('textbox', { name: 'Error code' }).fill('');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => rows.count()).toBe(2);

    // One failure's detail: the code, the message, the attempts and the step's last input.
    const first = rows.filter({ hasText: 'SKU-1' });
    await first.getByRole('button', { name: /Details/ }).click();
    const detail = page.getByRole('dialog', { name: 'Failure details' });
    await detail.getByText('The warehouse said no for SKU-1').waitFor();
    await detail.getByText('Last input of step reserve (attempt 1)').waitFor();
    await expect
      .poll(() => detail.locator('pre').first().textContent())
      .toContain('"sku": "SKU-1"');
    await expectNoAxeViolations();
    await detail.getByRole('button', { name: 'Replay…' }).click();

    // Replay it from the start: the preview names the version the run used.
    const replay = page.getByRole('dialog', { name: 'Replay failed runs' });
    await replay.getByText('1 new run will start').waitFor();
    await replay.getByText('Reserve stock v1: 1').waitFor();
    await replay.getByLabel('The start (every step runs again)').check();
    await expectNoAxeViolations();
    await replay.getByRole('button', { name: 'Replay 1 run' }).click();
    await page.getByText('1 new run started.').waitFor();
    const afterOne = await gql<DeadLetterList>(`{ deadLetters { id runId replayRunId } }`);
    const replayedOne = afterOne.deadLetters.find((d) => d.replayRunId)!;
    expect(replayedOne).toBeDefined();
    await page.getByRole('status').getByRole('link', { name: replayedOne.replayRunId! }).waitFor();
    await first
      .getByRole('link', { name: `replay ${replayedOne.replayRunId!.slice(0, 8)}` })
      .waitFor();

    // The whole selection, by keyboard: the one replayed before answers its existing replay.
    await page.getByRole('checkbox', { name: 'Select every failure listed' }).focus();
    await page.keyboard.press('Space');
    await page.getByRole('button', { name: 'Replay 2 selected' }).focus();
    await page.keyboard.press('Enter');
    await replay.getByText('1 of these was replayed before').waitFor();
    await replay.getByText('Reserve stock v1: 2').waitFor();
    await replay.getByRole('button', { name: 'Replay 2 runs' }).click();
    await page.getByText('1 new run started; 1 had been replayed before.').waitFor();
    await page.getByText('(replayed before: this is the existing replay)').waitFor();
    const afterAll2 = await gql<DeadLetterList>(
      `{ deadLetters(filter: { pending: true }) { id runId replayRunId } }`,
    );
    // The replays fail too (the step still throws) and become dead letters of their own.
    expect(afterAll2.deadLetters.every((d) => d.runId !== replayedOne.runId)).toBe(true);
    await expectNoAxeViolations();
  });
  expect(browser.problems).toEqual([]);
}, 120_000);
