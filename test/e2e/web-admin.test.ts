/**
 * The operators' and admins' pages in a real browser: failures (dead letters made by a
 * JavaScript step that throws, with one attempt) listed, filtered, inspected and replayed, one
 * and then several, from the start and from the failed step; API tokens; members and
 * invitations; the audit trail with its chain verified and exported. Each page is checked with
 * axe and driven with the keyboard where it matters; a viewer does not see what it cannot use.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type TestApi } from '../support/api.ts';
import type { Locator } from 'playwright-core';
import { type TestBrowser } from '../support/browser.ts';
import { OWNER, openWebSession, type WebSession } from '../support/web-session.ts';
import type { TestDatabase } from '../support/db.ts';

let session: WebSession;
let db: TestDatabase;
let api: TestApi;
let browser: TestBrowser;

beforeAll(async () => {
  session = await openWebSession('web-admin');
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

type DeadLetterList = {
  deadLetters: { nodes: { id: string; runId: string; replayRunId: string | null }[] };
};

const DEAD_LETTERS = `{ deadLetters(first: 100) { nodes { id runId replayRunId } } }`;

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
    .poll(async () => (await gql<DeadLetterList>(DEAD_LETTERS)).deadLetters.nodes.length, {
      timeout: 30_000,
      interval: 250,
    })
    .toBe(n);
}

it('lists failures, filters them, shows one and replays one and then several', async () => {
  await makeFailures(2);
  await scenario('failures', async () => {
    const { page } = browser;
    await signInAs(OWNER.email, OWNER.password);

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
    const afterOne = await gql<DeadLetterList>(DEAD_LETTERS);
    const replayedOne = afterOne.deadLetters.nodes.find((d) => d.replayRunId)!;
    expect(replayedOne).toBeDefined();
    await page.getByRole('status').getByRole('link', { name: replayedOne.replayRunId! }).waitFor();
    await first
      .getByRole('link', { name: `replay ${replayedOne.replayRunId!.slice(0, 8)}` })
      .waitFor();

    // The replay fails too (the step still throws) and becomes a dead letter of its own: wait
    // for it, so that the list is the same on a fast and on a loaded machine, then reload.
    await expect
      .poll(async () => (await gql<DeadLetterList>(DEAD_LETTERS)).deadLetters.nodes.length, {
        timeout: 30_000,
        interval: 250,
      })
      .toBe(3);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => rows.count()).toBe(3);

    // The whole selection, by keyboard: the one replayed before answers its existing replay.
    await page.getByRole('checkbox', { name: 'Select every failure listed' }).focus();
    await page.keyboard.press('Space');
    await page.getByRole('button', { name: 'Replay 3 selected' }).focus();
    await page.keyboard.press('Enter');
    await replay.getByText('1 of these was replayed before').waitFor();
    await replay.getByText('Reserve stock v1: 3').waitFor();
    await replay.getByRole('button', { name: 'Replay 3 runs' }).click();
    await page.getByText('2 new runs started; 1 had been replayed before.').waitFor();
    await page.getByText('(replayed before: this is the existing replay)').waitFor();
    const afterAll2 = await gql<DeadLetterList>(
      `{ deadLetters(filter: { pending: true }) { nodes { id runId replayRunId } } }`,
    );
    // The replays fail too (the step still throws) and become dead letters of their own.
    expect(afterAll2.deadLetters.nodes.every((d) => d.runId !== replayedOne.runId)).toBe(true);
    await expectNoAxeViolations();

    // Every match of a filter, on every page: wait for those two replays to die, then replay
    // what failed at "reserve" and was not replayed yet, from the failed step.
    await expect
      .poll(async () => (await gql<DeadLetterList>(DEAD_LETTERS)).deadLetters.nodes.length, {
        timeout: 30_000,
        interval: 250,
      })
      .toBe(5);
    const pendingBefore = (
      await gql<DeadLetterList>(
        `{ deadLetters(filter: { pending: true }) { nodes { id runId replayRunId } } }`,
      )
    ).deadLetters.nodes;
    expect(pendingBefore).toHaveLength(2);
    await page.getByRole('textbox', { name: 'Failed step' }).fill('reserve');
    await page.getByText('Not replayed yet').click();
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => rows.count()).toBe(2);
    await page.getByRole('button', { name: 'Replay every match…' }).click();
    await replay.getByText('2 failed runs match these filters, on every page.').waitFor();
    await replay.getByText('Reserve stock v1: 2').waitFor();
    await expectNoAxeViolations();
    await replay.getByRole('button', { name: 'Replay 2 runs' }).click();
    await page.getByText('2 new runs started.').waitFor();
    const now = await gql<DeadLetterList>(DEAD_LETTERS);
    for (const d of pendingBefore)
      expect(now.deadLetters.nodes.find((n) => n.id === d.id)?.replayRunId).toBeTruthy();
    // A step that never failed: nothing listed, nothing to replay.
    await page.getByRole('textbox', { name: 'Failed step' }).fill('no-such-step');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('heading', { name: 'No failure matches these filters' }).waitFor();
    expect(await page.getByRole('button', { name: 'Replay every match…' }).count()).toBe(0);
  });
  expect(browser.problems).toEqual([]);
}, 120_000);

/** Picks a Vuetify select's option with the keyboard (its field covers the input for the mouse). */
async function choose(combobox: Locator, option: string): Promise<void> {
  const item = browser.page.getByRole('option', { name: option, exact: true });
  // A dialog's autofocus can take the focus back while it opens: try again until the list shows.
  for (let attempt = 0; attempt < 5; attempt++) {
    await combobox.focus();
    await browser.page.keyboard.press('ArrowDown');
    if (
      await item.waitFor({ timeout: 1_000 }).then(
        () => true,
        () => false,
      )
    )
      break;
  }
  await item.click();
}

async function openFromNav(title: string): Promise<void> {
  await browser.page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: title })
    .click();
  await browser.page.getByRole('heading', { name: title, level: 1 }).waitFor();
}

let ownerTokenSecret = '';

it('creates an API token shown once, lists it with its prefix, creator and last use, and revokes one', async () => {
  await scenario('tokens', async () => {
    const { page } = browser;
    await openFromNav('API tokens');
    await page.getByRole('heading', { name: 'No API tokens yet' }).waitFor();
    await expectNoAxeViolations();

    await page.getByRole('button', { name: 'New token' }).click();
    const dialog = page.getByRole('dialog', { name: 'New API token' });
    await dialog.getByLabel('Name').fill('CI deploys');
    await choose(dialog.getByRole('combobox', { name: 'Role' }), 'owner');
    await choose(dialog.getByRole('combobox', { name: 'Expires' }), 'In 30 days');
    await expectNoAxeViolations();
    await dialog.getByRole('button', { name: 'Create token' }).click();
    await page.getByText('Token “CI deploys” created').waitFor();
    ownerTokenSecret = await page
      .getByRole('textbox', { name: 'API token (shown once)' })
      .inputValue();
    expect(ownerTokenSecret.length).toBeGreaterThan(20);
    await expectNoAxeViolations();

    // The token works, and its use shows.
    const used = await api.gql(`{ viewer { kind } }`, {}, { token: ownerTokenSecret });
    expect(used.errors).toBeUndefined();
    await api.flush();
    await page.getByRole('button', { name: 'I have copied the token' }).click();
    await expect(
      page.getByRole('textbox', { name: 'API token (shown once)' }).count(),
    ).resolves.toBe(0);
    await page.reload();
    const row = page.locator('tbody tr').filter({ hasText: 'CI deploys' });
    await row.getByText(OWNER.email).waitFor();
    await row.getByText(`${ownerTokenSecret.slice(0, 8)}`).waitFor();
    await row.getByText('just now').waitFor();

    // A second token, revoked with the keyboard.
    await page.getByRole('button', { name: 'New token' }).click();
    await dialog.getByLabel('Name').fill('Reporting');
    await page.keyboard.press('Enter');
    await page.getByText('Token “Reporting” created').waitFor();
    const reporting = page.locator('tbody tr').filter({ hasText: 'Reporting' });
    await reporting.getByRole('button', { name: 'Revoke Reporting' }).focus();
    await page.keyboard.press('Enter');
    const confirm = page.getByRole('dialog', { name: 'Revoke API token' });
    await expectNoAxeViolations();
    await confirm.getByRole('button', { name: 'Revoke' }).click();
    await reporting.getByText('revoked').waitFor();
  });
  expect(browser.problems).toEqual([]);
}, 60_000);

/** Accepts an invitation as a new user, from the link the page showed. */
async function accept(link: string, password: string): Promise<void> {
  const token = decodeURIComponent(link.split('#')[1] ?? '');
  const res = await api.gql(
    `mutation($t: String!, $p: String) { acceptInvitation(token: $t, password: $p) { email } }`,
    { t: token, p: password },
  );
  expect(res.errors).toBeUndefined();
}

async function inviteFromPage(email: string, role: string): Promise<string> {
  const { page } = browser;
  await page.getByRole('button', { name: 'Invite someone' }).click();
  const dialog = page.getByRole('dialog', { name: 'Invite someone' });
  await dialog.getByLabel('Email').fill(email);
  await choose(dialog.getByRole('combobox', { name: 'Role' }), role);
  await dialog.getByRole('button', { name: 'Invite' }).click();
  await page.getByRole('heading', { name: `Invitation for ${email}` }).waitFor();
  const link = await page
    .getByRole('textbox', { name: 'Invitation link (shown once)' })
    .inputValue();
  await page.getByRole('button', { name: 'Done' }).click();
  return link;
}

it('lists members, explains the last-owner rule, invites with a link shown once, changes roles, removes and revokes', async () => {
  await scenario('members', async () => {
    const { page } = browser;
    await openFromNav('Members');
    const me = page.locator('tbody tr').filter({ hasText: OWNER.email });
    await me.getByText('you').waitFor();
    await expectNoAxeViolations();

    // The last owner cannot step down: the page says why and what to do.
    await choose(me.getByRole('combobox', { name: `Role of ${OWNER.email}` }), 'admin');
    await page.getByText(/E_LAST_OWNER.*Make another member owner first/).waitFor();
    await expect(
      me.getByRole('combobox', { name: `Role of ${OWNER.email}` }).inputValue(),
    ).resolves.toBe('owner');

    // Invitations: the link is shown once (no mail server in this test).
    const adaLink = await inviteFromPage('ada@acme.test', 'admin');
    expect(adaLink).toMatch(/\/invitations\/accept#/);
    await accept(adaLink, 'ada password 123');
    const carlLink = await inviteFromPage('carl@acme.test', 'viewer');
    await accept(carlLink, 'carl password 123');
    await inviteFromPage('bob@acme.test', 'editor');
    await page.reload();
    await page.locator('tbody tr').filter({ hasText: 'ada@acme.test' }).waitFor();
    await expectNoAxeViolations();

    // Revoke Bob's invitation.
    await page.getByRole('button', { name: 'Revoke the invitation for bob@acme.test' }).click();
    await page
      .getByRole('dialog', { name: 'Revoke invitation' })
      .getByRole('button', { name: 'Revoke' })
      .click();
    await expect.poll(() => page.getByRole('cell', { name: 'bob@acme.test' }).count()).toBe(0);

    // Carl becomes an editor, then is removed.
    const carl = page.locator('tbody tr').filter({ hasText: 'carl@acme.test' });
    await choose(carl.getByRole('combobox', { name: 'Role of carl@acme.test' }), 'editor');
    await expect
      .poll(async () => {
        const m = await gql<{ members: { nodes: { email: string; role: string }[] } }>(
          `{ members(first: 100) { nodes { email role } } }`,
        );
        return m.members.nodes.find((x) => x.email === 'carl@acme.test')?.role;
      })
      .toBe('editor');
    await carl.getByRole('button', { name: 'Remove carl@acme.test' }).click();
    await page
      .getByRole('dialog', { name: 'Remove member' })
      .getByRole('button', { name: 'Remove' })
      .click();
    await expect.poll(() => carl.count()).toBe(0);
    await expectNoAxeViolations();
  });
  expect(browser.problems).toEqual([]);
}, 60_000);

it('refuses an admin the revocation of an owner token (E_ROLE_TOO_HIGH) and hides admin pages from a viewer', async () => {
  await scenario('roles', async () => {
    const { page } = browser;
    await signInAs('ada@acme.test', 'ada password 123');
    await openFromNav('API tokens');
    await page.getByRole('button', { name: 'Revoke CI deploys' }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke API token' });
    await confirm.getByRole('button', { name: 'Revoke' }).click();
    await confirm.getByText(/E_ROLE_TOO_HIGH/).waitFor();
    await expectNoAxeViolations();
    await confirm.getByRole('button', { name: 'Cancel' }).click();

    const invited = await gql<{ inviteMember: { link: string } }>(
      `mutation { inviteMember(email: "dan@acme.test", role: viewer) { link } }`,
    );
    await accept(invited.inviteMember.link, 'dan password 123');
    await signInAs('dan@acme.test', 'dan password 123');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Failures' }).click();
    await page.locator('tbody tr').first().waitFor();
    expect(await nav.getByRole('link', { name: 'Members' }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'API tokens' }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Audit trail' }).count()).toBe(0);
    expect(await page.getByRole('checkbox', { name: /^Select/ }).count()).toBe(0);
    await page
      .getByRole('button', { name: /Details/ })
      .first()
      .click();
    const detail = page.getByRole('dialog', { name: 'Failure details' });
    await detail.getByText('Attempts').waitFor();
    expect(await detail.getByRole('button', { name: 'Replay…' }).count()).toBe(0);
    await expectNoAxeViolations();
  });
  expect(browser.problems).toEqual([]);
}, 60_000);

async function downloadText(button: Locator): Promise<{ name: string; text: string }> {
  const [file] = await Promise.all([browser.page.waitForEvent('download'), button.click()]);
  const path = await file.path();
  return { name: file.suggestedFilename(), text: await readFile(path, 'utf8') };
}

it('shows the audit trail, filters it, verifies the chain, exports it, and names the first broken link', async () => {
  await scenario('audit', async () => {
    const { page } = browser;
    await signInAs(OWNER.email, OWNER.password);
    await openFromNav('Audit trail');
    await page.getByRole('cell', { name: 'tenant.created' }).waitFor();
    await expectNoAxeViolations();

    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page.getByText(/The chain is intact: \d+ events checked/).waitFor();

    // A time range with nothing in it says so.
    await page.getByLabel('From', { exact: true }).fill('2099-01-01T00:00');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('heading', { name: 'No event matches these filters' }).waitFor();
    await page.getByLabel('From', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('cell', { name: 'tenant.created' }).waitFor();

    // The server filters by action; the export holds every match, not only the page loaded.
    const action = page.getByRole('combobox', { name: 'Action' });
    await action.fill('api_token.created');
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('2 events loaded.').waitFor();
    await expectNoAxeViolations();
    const jsonl = await downloadText(page.getByRole('button', { name: 'Export JSON Lines' }));
    expect(jsonl.name).toMatch(/^audit-.*\.jsonl$/);
    const lines = jsonl.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      lines.map((l) => [l.action, l.actorEmail, (l.metadata as { name: string }).name]),
    ).toEqual([
      ['api_token.created', OWNER.email, 'Reporting'],
      ['api_token.created', OWNER.email, 'CI deploys'],
    ]);
    const csv = await downloadText(page.getByRole('button', { name: 'Export CSV' }));
    const csvLines = csv.text.trim().split('\r\n');
    expect(csvLines[0]).toBe(
      'seq,occurredAt,actorKind,actorId,actorEmail,action,targetKind,targetId,outcome,ip,requestId,metadata,id',
    );
    expect(csvLines).toHaveLength(3);
    expect(csvLines[1]).toContain(',api_token.created,api_token,');

    // 150 events of one action yesterday: a page loads 100; the export of the day has all 150.
    const { rows: tenantRows } = await db.ownerPool.query<{ id: string }>(
      `select id from tenants limit 1`,
    );
    const yesterday = new Date(Date.now() - 86_400_000);
    yesterday.setHours(12, 0, 0, 0);
    await db.ownerPool.query(
      `insert into audit_events (tenant_id, actor_kind, actor_id, action, target_kind, target_id, occurred_at, prev_hash, hash)
       select $1, 'system', 'import', 'test.imported', 'record', 'r-' || i, $2::timestamptz + i * interval '1 second', '\\x', '\\x'
         from generate_series(1, 150) i`,
      [tenantRows[0]!.id, yesterday],
    );
    const local = (d: Date) =>
      new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await action.fill('test.imported');
    await page.keyboard.press('Escape');
    await page
      .getByLabel('From', { exact: true })
      .fill(local(new Date(yesterday.getTime() - 3_600_000)));
    await page
      .getByLabel('To', { exact: true })
      .fill(local(new Date(yesterday.getTime() + 3_600_000)));
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('100 events loaded, more match.').waitFor();
    const day = await downloadText(page.getByRole('button', { name: 'Export JSON Lines' }));
    expect(day.text.trim().split('\n')).toHaveLength(150);
    // The target filter narrows to one record.
    await page.getByRole('textbox', { name: 'Target id' }).fill('r-42');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('1 event loaded.').waitFor();
    await page.getByRole('cell', { name: 'record r-42' }).waitFor();

    // A range that ends before it starts is refused on the field, before any request.
    await page
      .getByLabel('To', { exact: true })
      .fill(local(new Date(yesterday.getTime() - 7_200_000)));
    await page.getByText('“To” must be after “From”.').waitFor();
    await expectNoAxeViolations();
    await page.getByRole('textbox', { name: 'Target id' }).fill('');
    await action.fill('');
    await page.keyboard.press('Escape');
    await page.getByLabel('From', { exact: true }).fill('');
    await page.getByLabel('To', { exact: true }).fill('');

    // The actor filter lists the members by email.
    await choose(page.getByRole('combobox', { name: 'Actor' }), 'The system');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('cell', { name: 'system import' }).first().waitFor();
    expect(await page.getByRole('cell', { name: OWNER.email }).count()).toBe(0);

    // The access history: every GraphQL operation, exported the same way.
    await page.getByRole('tab', { name: 'Access history' }).click();
    await page
      .getByRole('cell', { name: /ApiTokens/ })
      .first()
      .waitFor();
    await expectNoAxeViolations();
    const access = await downloadText(page.getByRole('button', { name: 'Export CSV' }));
    expect(access.name).toMatch(/^access-.*\.csv$/);
    expect(access.text.split('\r\n')[0]).toBe(
      'id,occurredAt,actorKind,actorId,tokenId,operationKind,operationName,outcome,durationMs,ip,requestId',
    );

    // Someone with the database owner's rights alters an event behind the triggers.
    const { rows } = await db.ownerPool.query<{ seq: number }>(
      `select seq from audit_events where action = 'api_token.created' order by seq limit 1`,
    );
    const tampered = rows[0]!.seq;
    const owner = await db.ownerPool.connect();
    try {
      await owner.query('begin');
      await owner.query('alter table audit_events disable trigger audit_events_immutable');
      await owner.query(`update audit_events set outcome = 'failure' where seq = $1`, [tampered]);
      await owner.query('alter table audit_events enable trigger audit_events_immutable');
      await owner.query('commit');
    } finally {
      owner.release();
    }
    await page.getByRole('tab', { name: 'Audit events' }).click();
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page.getByText(`The chain is broken at event #${tampered}`).waitFor();
    await page.getByText('its content no longer matches its hash (it was altered).').waitFor();
    await expectNoAxeViolations();
  });
  expect(browser.problems).toEqual([]);
}, 60_000);

it('accepts an invitation from its link: a new user chooses a password and is signed in; a used link is refused', async () => {
  await scenario('accept', async () => {
    const { page } = browser;
    const invited = await gql<{ inviteMember: { link: string } }>(
      `mutation { inviteMember(email: "erin@acme.test", role: editor) { link } }`,
    );
    const link = invited.inviteMember.link.replace(/^https?:\/\/[^/]+/, api.url);
    await page.context().clearCookies();
    await page.goto(link);
    await page.getByRole('heading', { name: 'Join a Switchyard tenant' }).waitFor();
    await page.getByLabel('Password').fill('short');
    await page.keyboard.press('Enter');
    await page.getByText('Choose a password of at least 10 characters.').waitFor();
    await expectNoAxeViolations();
    await page.getByLabel('Password').fill('erin password 123');
    await page.getByRole('button', { name: 'Accept and create my account' }).click();
    await page.waitForURL('**/workflows');
    const members = await gql<{ members: { nodes: { email: string; role: string }[] } }>(
      `{ members(first: 100) { nodes { email role } } }`,
    );
    expect(members.members.nodes).toContainEqual({ email: 'erin@acme.test', role: 'editor' });

    // The link works once.
    await page.context().clearCookies();
    await page.goto(`${api.url}/sign-in`);
    await page.goto(link);
    await page.getByLabel('Password').fill('erin password 456');
    await page.getByRole('button', { name: 'Accept and create my account' }).click();
    await page
      .getByText(/invalid, expired, revoked or already used.*E_INVITATION_INVALID/)
      .waitFor();
  });
  expect(browser.problems).toEqual([]);
}, 60_000);
