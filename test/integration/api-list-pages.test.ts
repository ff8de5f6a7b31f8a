/**
 * Every list a person browses pages by cursor, one way (the shape of `runs`: nodes,
 * endCursor, hasNextPage), and the ones a person looks one item up in search by name. A
 * tenant with 2,000 workflows pages through all of them exactly once, in name order, and a
 * search finds the one; another tenant's rows never show.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let token: string;
let otherToken: string;
const N = 2000;

type Page<T> = { nodes: T[]; endCursor: string | null; hasNextPage: boolean };

async function gql<T>(query: string, variables: Record<string, unknown> = {}, t = token) {
  const r = await api.gql<T>(query, variables, { token: t });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  const tenant = await makeTenant(db.pool, 'Many');
  token = tenant.apiToken;
  otherToken = (await makeTenant(db.pool, 'Other')).apiToken;
  // 2,000 workflows in one statement; names in mixed case so the order is case-insensitive.
  await db.ownerPool.query(
    `insert into workflows (tenant_id, name)
     select $1, case when i % 2 = 0 then 'Flow ' else 'flow ' end || lpad(i::text, 4, '0')
       from generate_series(1, $2) i`,
    [tenant.tenantId, N],
  );
  await db.ownerPool.query(`insert into workflows (tenant_id, name) values ($1, 'Invoice sync')`, [
    tenant.tenantId,
  ]);
  await gql(`mutation { createWorkflow(name: "Other tenant's flow 0001") { id } }`, {}, otherToken);
  await db.ownerPool.query('analyze workflows');
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

describe('workflows', () => {
  const PAGE = `query($after: String, $search: String) {
    workflows(first: 100, after: $after, search: $search) { nodes { id name } endCursor hasNextPage }
  }`;

  it('pages through 2,001 workflows exactly once, by name regardless of case', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const { workflows }: { workflows: Page<{ id: string; name: string }> } = await gql(PAGE, {
        after,
      });
      seen.push(...workflows.nodes.map((w) => w.name));
      pages++;
      if (!workflows.hasNextPage) break;
      after = workflows.endCursor;
    }
    expect(pages).toBe(21);
    expect(seen).toHaveLength(N + 1);
    expect(new Set(seen).size).toBe(N + 1);
    expect(seen[0]).toBe('flow 0001');
    expect(seen[1]).toBe('Flow 0002');
    expect(seen.at(-1)).toBe('Invoice sync');
    expect(seen).not.toContain("Other tenant's flow 0001");
  });

  it('search finds one workflow by part of its name, in any case', async () => {
    const { workflows } = await gql<{ workflows: Page<{ name: string }> }>(PAGE, {
      search: 'VOICE',
    });
    expect(workflows.nodes.map((w) => w.name)).toEqual(['Invoice sync']);
    expect(workflows.hasNextPage).toBe(false);
    const digits = await gql<{ workflows: Page<{ name: string }> }>(PAGE, { search: '1999' });
    expect(digits.workflows.nodes.map((w) => w.name)).toEqual(['flow 1999']);
    // LIKE's wildcards are taken literally.
    const percent = await gql<{ workflows: Page<{ name: string }> }>(PAGE, { search: '%' });
    expect(percent.workflows.nodes).toEqual([]);
  });

  it('ids answers just those workflows (to name the workflows of a page of runs)', async () => {
    const { workflows } = await gql<{ workflows: Page<{ id: string; name: string }> }>(PAGE, {
      search: 'flow 000',
    });
    const ids = workflows.nodes.slice(0, 3).map((w) => w.id);
    const named = await gql<{ workflows: Page<{ name: string }> }>(
      `query($ids: [ID!]) { workflows(ids: $ids, includeArchived: true) { nodes { name } hasNextPage } }`,
      { ids },
    );
    expect(named.workflows.nodes.map((w) => w.name)).toEqual([
      'flow 0001',
      'Flow 0002',
      'flow 0003',
    ]);
  });

  it('a cursor that is not one the API returned is E_VALIDATION on `after`', async () => {
    const r = await api.gql(PAGE, { after: 'bm9wZQ' }, { token });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'after' });
  });
});

describe('the other lists', () => {
  it('apps, actions, connections, triggers and members page by cursor and search', async () => {
    const appIds: string[] = [];
    for (const name of ['Zeta CRM', 'alpha Mail', 'Beta Pay']) {
      const r = await gql<{ createApp: { id: string } }>(
        `mutation($i: AppInput!) { createApp(input: $i) { id } }`,
        { i: { key: name.toLowerCase().replace(/ /g, '-'), name, authKind: 'none' } },
      );
      appIds.push(r.createApp.id);
      await gql(`mutation($a: ID!, $n: String!) { createConnection(appId: $a, name: $n) { id } }`, {
        a: r.createApp.id,
        n: `${name} prod`,
      });
      await gql(`mutation($i: ActionInput!) { createAction(input: $i) { id } }`, {
        i: {
          appId: r.createApp.id,
          key: 'get',
          name: `Lookup ${name}`,
          kind: 'http',
          implementation: { method: 'GET', url: 'https://example.test/' },
        },
      });
    }
    // Built-in apps first, then by name; two per page.
    const names: string[] = [];
    let after: string | null = null;
    let builtins = 0;
    do {
      const { apps }: { apps: Page<{ name: string; isBuiltin: boolean }> } = await gql(
        `query($after: String) { apps(first: 2, after: $after) { nodes { name isBuiltin } endCursor hasNextPage } }`,
        { after },
      );
      names.push(...apps.nodes.map((a) => a.name));
      builtins += apps.nodes.filter((a) => a.isBuiltin).length;
      after = apps.hasNextPage ? apps.endCursor : null;
    } while (after);
    expect(builtins).toBeGreaterThan(0);
    expect(names.slice(builtins)).toEqual(['alpha Mail', 'Beta Pay', 'Zeta CRM']);

    const found = await gql<{
      apps: Page<{ name: string }>;
      actions: Page<{ name: string }>;
      connections: Page<{ name: string }>;
      members: Page<{ email: string }>;
    }>(`{
      apps(search: "pay") { nodes { name } hasNextPage }
      actions(search: "zeta") { nodes { name } hasNextPage }
      connections(search: "MAIL") { nodes { name } hasNextPage }
      members(search: "OWNER-") { nodes { email } hasNextPage }
    }`);
    expect(found.apps.nodes.map((a) => a.name)).toEqual(['Beta Pay']);
    expect(found.actions.nodes.map((a) => a.name)).toEqual(['Lookup Zeta CRM']);
    // The editor's picker shows "App · Action": a person types either, or both.
    const byTitle = await gql<{ byApp: Page<{ name: string }>; byTitle: Page<{ name: string }> }>(`{
      byApp: actions(search: "beta pay") { nodes { name } }
      byTitle: actions(search: "Zeta CRM · Lookup") { nodes { name } }
    }`);
    expect(byTitle.byApp.nodes.map((a) => a.name)).toEqual(['Lookup Beta Pay']);
    expect(byTitle.byTitle.nodes.map((a) => a.name)).toEqual(['Lookup Zeta CRM']);
    expect(found.connections.nodes.map((c) => c.name)).toEqual(['alpha Mail prod']);
    expect(found.members.nodes).toHaveLength(1);

    const byIds = await gql<{ actions: Page<{ name: string; app: { name: string } }> }>(
      `query($ids: [ID!]) { actions(ids: $ids) { nodes { name app { name } } hasNextPage } }`,
      { ids: [] },
    );
    expect(byIds.actions.nodes).toEqual([]);
    const found2 = await gql<{ actions: Page<{ id: string }> }>(
      `{ actions(search: "lookup") { nodes { id } } }`,
    );
    const named = await gql<{ actions: Page<{ name: string; app: { name: string } }> }>(
      `query($ids: [ID!]) { actions(ids: $ids) { nodes { name app { name } } } }`,
      { ids: found2.actions.nodes.map((a) => a.id) },
    );
    expect(named.actions.nodes).toEqual([
      { name: 'Lookup alpha Mail', app: { name: 'alpha Mail' } },
      { name: 'Lookup Beta Pay', app: { name: 'Beta Pay' } },
      { name: 'Lookup Zeta CRM', app: { name: 'Zeta CRM' } },
    ]);

    const ofApp = await gql<{ actions: Page<{ name: string }> }>(
      `query($a: ID!) { actions(appId: $a, first: 1) { nodes { name } endCursor hasNextPage } }`,
      { a: appIds[0] },
    );
    expect(ofApp.actions).toMatchObject({
      nodes: [{ name: 'Lookup Zeta CRM' }],
      hasNextPage: false,
    });

    const conns = await gql<{ connections: Page<{ name: string }> }>(
      `{ connections(first: 2) { nodes { name } endCursor hasNextPage } }`,
    );
    expect(conns.connections.nodes.map((c) => c.name)).toEqual([
      'alpha Mail prod',
      'Beta Pay prod',
    ]);
    expect(conns.connections.hasNextPage).toBe(true);
    const rest = await gql<{ connections: Page<{ name: string }> }>(
      `query($a: String) { connections(first: 2, after: $a) { nodes { name } endCursor hasNextPage } }`,
      { a: conns.connections.endCursor },
    );
    expect(rest.connections).toMatchObject({
      nodes: [{ name: 'Zeta CRM prod' }],
      hasNextPage: false,
    });

    const wf = await gql<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "With triggers") { id } }`,
    );
    for (let i = 0; i < 3; i++)
      await gql(
        `mutation($w: ID!) { createTrigger(workflowId: $w, kind: manual) { trigger { id } } }`,
        {
          w: wf.createWorkflow.id,
        },
      );
    const ids: string[] = [];
    let tAfter: string | null = null;
    do {
      const { triggers }: { triggers: Page<{ id: string }> } = await gql(
        `query($w: ID!, $a: String) { triggers(workflowId: $w, first: 2, after: $a) { nodes { id } endCursor hasNextPage } }`,
        { w: wf.createWorkflow.id, a: tAfter },
      );
      ids.push(...triggers.nodes.map((t) => t.id));
      tAfter = triggers.hasNextPage ? triggers.endCursor : null;
    } while (tAfter);
    expect(new Set(ids).size).toBe(3);
  });
});
