import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
const tokens: Record<'viewer' | 'editor' | 'admin' | 'owner', string> = {
  viewer: '',
  editor: '',
  admin: '',
  owner: '',
};
let otherOwner: string;

const APP = {
  key: 'crm',
  name: 'CRM',
  baseUrl: 'https://crm.example.test/v1',
  authKind: 'bearer',
  connectionSchema: { type: 'object' },
};
const action = (appId: string) => ({
  appId,
  key: 'create-contact',
  name: 'Create contact',
  kind: 'http',
  inputSchema: { type: 'object', required: ['email'], properties: { email: { type: 'string' } } },
  outputSchema: { type: 'object' },
  implementation: { method: 'POST', path: '/contacts', body: { email: '{{ input.email }}' } },
  retryStrategy: 'exponential',
  maxAttempts: 5,
});

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { GRAPHQL_MAX_DEPTH: '6' });
  const t = await makeTenant(db.pool, 'Catalog');
  tokens.owner = t.apiToken;
  for (const role of ['viewer', 'editor', 'admin'] as const) {
    const r = await api.gql<{ createApiToken: { secret: string } }>(
      `mutation($r: Role!) { createApiToken(name: "t", role: $r) { secret } }`,
      { r: role },
      { token: tokens.owner },
    );
    tokens[role] = r.data!.createApiToken.secret;
  }
  otherOwner = (await makeTenant(db.pool, 'Other')).apiToken;
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

async function createApp(token: string, input: Record<string, unknown> = APP) {
  return api.gql<{ createApp: { id: string } }>(
    `mutation($i: AppInput!) { createApp(input: $i) { id key } }`,
    { i: input },
    { token },
  );
}

describe('apps, actions and workflows over GraphQL', () => {
  it('lets editors and above change the catalog, and viewers only read it', async () => {
    const denied = await createApp(tokens.viewer);
    expect(denied.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    const made = await createApp(tokens.editor);
    expect(made.errors).toBeUndefined();
    const listed = await api.gql<{ apps: { nodes: Array<{ key: string }> } }>(
      '{ apps(first: 100) { nodes { key } } }',
      {},
      { token: tokens.viewer },
    );
    expect(listed.data?.apps.nodes.map((a) => a.key)).toContain('crm');
    const anonymous = await api.gql('{ apps(first: 100) { nodes { key } } }');
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
  });

  it('refuses an invalid app or action with the field to fix, and writes nothing', async () => {
    const badSchema = await createApp(tokens.editor, {
      ...APP,
      key: 'bad',
      connectionSchema: { type: 'not-a-type' },
    });
    expect(badSchema.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'connectionSchema',
    });
    const badKey = await createApp(tokens.editor, { ...APP, key: 'Bad Key' });
    expect(badKey.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'key' });
    const apps = await db.ownerPool.query(`select key from apps where key in ('bad', 'Bad Key')`);
    expect(apps.rowCount).toBe(0);

    const app = await createApp(tokens.editor, { ...APP, key: 'crm2' });
    const appId = app.data!.createApp.id;
    const badAction = await api.gql(
      `mutation($i: ActionInput!) { createAction(input: $i) { id } }`,
      { i: { ...action(appId), inputSchema: { properties: 5 } } },
      { token: tokens.editor },
    );
    expect(badAction.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'inputSchema',
    });
    const badRetry = await api.gql(
      `mutation($i: ActionInput!) { createAction(input: $i) { id } }`,
      { i: { ...action(appId), maxAttempts: 0 } },
      { token: tokens.editor },
    );
    expect(badRetry.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'maxAttempts',
    });
  });

  it('validates workflow definitions on save and pins published versions', async () => {
    // No auth: these steps need no connection (a bearer app's steps must name one).
    const app = await createApp(tokens.editor, { ...APP, key: 'crm3', authKind: 'none' });
    const appId = app.data!.createApp.id;
    const act = await api.gql<{ createAction: { id: string } }>(
      `mutation($i: ActionInput!) { createAction(input: $i) { id } }`,
      { i: action(appId) },
      { token: tokens.editor },
    );
    const actionId = act.data!.createAction.id;
    const wf = await api.gql<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "Sync") { id } }`,
      {},
      { token: tokens.editor },
    );
    const workflowId = wf.data!.createWorkflow.id;
    const SAVE = `mutation($w: ID!, $d: JSON!, $p: Boolean) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: $p) { id version } }`;

    const cases: Array<[unknown, RegExp]> = [
      [{ steps: [] }, /1 to 100 steps/],
      [
        {
          steps: [
            { id: 'a', actionId },
            { id: 'a', actionId },
          ],
        },
        /used twice/,
      ],
      [
        {
          steps: [
            { id: 'a', actionId, input: { x: '{{ steps.b.output.id }}' } },
            { id: 'b', actionId },
          ],
        },
        /only steps before this one/,
      ],
      [
        { steps: [{ id: 'a', actionId, input: { x: '{{ env.SECRET }}' } }] },
        /starts with trigger, steps or run/,
      ],
      [
        { steps: [{ id: 'a', actionId: '00000000-0000-4000-8000-000000000000' }] },
        /no such action in this tenant/,
      ],
      [{ steps: [{ id: 'a', actionId, onError: 'explode' }] }, /onError/],
    ];
    for (const [definition, message] of cases) {
      const r = await api.gql(SAVE, { w: workflowId, d: definition }, { token: tokens.editor });
      expect(r.errors?.[0]?.extensions?.code, JSON.stringify(definition)).toBe('E_VALIDATION');
      expect(r.errors?.[0]?.message).toMatch(message);
    }
    const none = await db.ownerPool.query(
      'select 1 from workflow_versions where workflow_id = $1',
      [workflowId],
    );
    expect(none.rowCount).toBe(0);

    const good = {
      steps: [
        { id: 'create', actionId, input: { email: '{{ trigger.body.email }}' } },
        {
          id: 'log',
          actionId,
          input: { email: '{{ steps.create.output.email }}' },
          onError: 'continue',
        },
      ],
    };
    const v1 = await api.gql<{ saveWorkflowVersion: { id: string; version: number } }>(
      SAVE,
      { w: workflowId, d: good, p: true },
      { token: tokens.editor },
    );
    expect(v1.data?.saveWorkflowVersion.version).toBe(1);
    const v2 = await api.gql<{ saveWorkflowVersion: { version: number } }>(
      SAVE,
      { w: workflowId, d: good },
      { token: tokens.editor },
    );
    expect(v2.data?.saveWorkflowVersion.version).toBe(2);
    const read = await api.gql<{
      workflow: { currentVersion: { version: number }; versions: Array<{ version: number }> };
    }>(
      `query($id: ID!) { workflow(id: $id) { currentVersion { version } versions { version } } }`,
      { id: workflowId },
      { token: tokens.viewer },
    );
    expect(read.data?.workflow).toEqual({
      currentVersion: { version: 1 },
      versions: [{ version: 2 }, { version: 1 }],
    });
  });

  it("answers 'not found' for another tenant's objects, never 'forbidden'", async () => {
    const app = await createApp(tokens.editor, { ...APP, key: 'private' });
    const appId = app.data!.createApp.id;
    const update = await api.gql(
      `mutation($id: ID!, $i: AppInput!) { updateApp(id: $id, input: $i) { id } }`,
      { id: appId, i: { ...APP, key: 'stolen' } },
      { token: otherOwner },
    );
    expect(update.errors?.[0]?.extensions?.code).toBe('E_NOT_FOUND');
    const del = await api.gql(
      `mutation($id: ID!) { deleteApp(id: $id) }`,
      { id: appId },
      { token: otherOwner },
    );
    expect(del.errors?.[0]?.extensions?.code).toBe('E_NOT_FOUND');
    const seen = await api.gql<{ apps: { nodes: Array<{ key: string }> } }>(
      '{ apps(first: 100) { nodes { key } } }',
      {},
      { token: otherOwner },
    );
    expect(seen.data?.apps.nodes.map((a) => a.key)).not.toContain('private');
  });

  it('allows each role exactly its mutation classes', async () => {
    // A published workflow (built-in JavaScript app) and the built-in HTTP app to act on.
    const apps = await api.gql<{
      apps: { nodes: Array<{ id: string; key: string; actions: Array<{ id: string }> }> };
    }>('{ apps(first: 100) { nodes { id key actions { id } } } }', {}, { token: tokens.owner });
    const js = apps.data!.apps.nodes.find((a) => a.key === 'javascript')!;
    const httpApp = apps.data!.apps.nodes.find((a) => a.key === 'http')!;
    const wf = await api.gql<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "roles") { id } }`,
      {},
      { token: tokens.owner },
    );
    const w = wf.data!.createWorkflow.id;
    await api.gql(
      `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
      { w, d: { steps: [{ id: 's', actionId: js.actions[0]!.id, input: { code: 'return 1;' } }] } },
      { token: tokens.owner },
    );
    const classes = {
      catalog: `mutation { createWorkflow(name: "w") { id } }`,
      connections: `mutation { createConnection(appId: "${httpApp.id}", name: "c") { id } }`,
      triggers: `mutation { createTrigger(workflowId: "${w}", kind: manual) { trigger { id } } }`,
      runs: `mutation { triggerWorkflow(workflowId: "${w}") { run { id } } }`,
      members: `mutation { inviteMember(email: "someone@x.test", role: viewer) { token } }`,
      tokens: `mutation { createApiToken(name: "n", role: viewer) { secret } }`,
      audit: `{ auditEvents(first: 1) { nodes { seq } } }`,
      tenant: `mutation { renameTenant(name: "Renamed") { name } }`,
    };
    const editorClasses: Array<keyof typeof classes> = [
      'catalog',
      'connections',
      'triggers',
      'runs',
    ];
    const allowed: Record<keyof typeof tokens, Array<keyof typeof classes>> = {
      viewer: [],
      editor: editorClasses,
      admin: [...editorClasses, 'members', 'tokens', 'audit'],
      owner: [...editorClasses, 'members', 'tokens', 'audit', 'tenant'],
    };
    for (const role of Object.keys(allowed) as Array<keyof typeof tokens>) {
      for (const [name, mutation] of Object.entries(classes) as Array<
        [keyof typeof classes, string]
      >) {
        const r = await api.gql(mutation, {}, { token: tokens[role] });
        const code = r.errors?.[0]?.extensions?.code ?? 'ok';
        expect({ role, name, code }).toEqual({
          role,
          name,
          code: allowed[role].includes(name) ? 'ok' : 'E_FORBIDDEN',
        });
      }
    }
  });

  it('refuses queries over the depth or cost limit before running them', async () => {
    const strict = await startTestApi(db, { GRAPHQL_MAX_DEPTH: '3', GRAPHQL_MAX_COST: '50' });
    try {
      const ok = await strict.gql(
        '{ apps(first: 10) { nodes { key } } }',
        {},
        { token: tokens.viewer },
      );
      expect(ok.errors).toBeUndefined();
      const deep = await strict.gql(
        '{ apps(first: 10) { nodes { actions { id } } } }',
        {},
        { token: tokens.viewer },
      );
      expect(deep.errors?.[0]).toMatchObject({
        message: 'The query is 4 levels deep; the limit is 3.',
        extensions: { code: 'E_QUERY_TOO_COMPLEX' },
      });
      const viaFragment = await strict.gql(
        'fragment F on App { actions { id } } { apps(first: 10) { nodes { ...F } } }',
        {},
        { token: tokens.viewer },
      );
      expect(viaFragment.errors?.[0]?.extensions?.code).toBe('E_QUERY_TOO_COMPLEX');
      const costly = await strict.gql(
        '{ auditEvents(first: 100) { nodes { seq action } } }',
        {},
        { token: tokens.owner },
      );
      expect(costly.errors?.[0]?.message).toMatch(/costs 301; the limit is 50/);
      const withinCost = await strict.gql(
        '{ auditEvents(first: 10) { nodes { seq action } } }',
        {},
        { token: tokens.owner },
      );
      expect(withinCost.errors).toBeUndefined();
    } finally {
      await strict.close();
    }
  });
});
