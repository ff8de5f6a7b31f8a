/**
 * What is certain to fail on every run is refused at save with E_VALIDATION naming the field,
 * and nothing is saved: malformed `{{`, references no run can satisfy, an HTTP action's bad
 * method or path, a step without the connection its app needs. A key used twice is
 * E_CONFLICT naming the field, never E_INTERNAL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type GqlResult, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let token: string;
let openAppId: string;
let openActionId: string;
let keyedActionId: string;
let keyedConnectionId: string;
let workflowId: string;

const CREATE_APP = `mutation($i: AppInput!) { createApp(input: $i) { id } }`;
const CREATE_ACTION = `mutation($i: ActionInput!) { createAction(input: $i) { id } }`;
const SAVE = `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d) { version } }`;

const httpAction = (appId: string, implementation: unknown, key = 'get-item') => ({
  appId,
  key,
  name: 'Get item',
  kind: 'http',
  implementation,
});

async function gql<T = Record<string, unknown>>(query: string, variables = {}) {
  return api.gql<T>(query, variables, { token });
}

function failure(r: GqlResult) {
  return { code: r.errors?.[0]?.extensions?.code, field: r.errors?.[0]?.extensions?.field };
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  token = (await makeTenant(db.pool, 'Checks')).apiToken;
  const open = await gql<{ createApp: { id: string } }>(CREATE_APP, {
    i: { key: 'open', name: 'Open API', baseUrl: 'https://api.example.test', authKind: 'none' },
  });
  openAppId = open.data!.createApp.id;
  openActionId = (
    await gql<{ createAction: { id: string } }>(CREATE_ACTION, {
      i: httpAction(openAppId, { method: 'GET', path: '/items/{{ input.id }}' }),
    })
  ).data!.createAction.id;
  const keyed = await gql<{ createApp: { id: string } }>(CREATE_APP, {
    i: {
      key: 'keyed',
      name: 'Keyed API',
      baseUrl: 'https://api.example.test',
      authKind: 'api_key',
      authConfig: { in: 'header', name: 'X-Api-Key' },
    },
  });
  const keyedAppId = keyed.data!.createApp.id;
  keyedActionId = (
    await gql<{ createAction: { id: string } }>(CREATE_ACTION, {
      i: httpAction(keyedAppId, { method: 'GET', path: '/me' }),
    })
  ).data!.createAction.id;
  keyedConnectionId = (
    await gql<{ createConnection: { id: string } }>(
      `mutation($a: ID!, $s: JSON) { createConnection(appId: $a, name: "prod", secret: $s) { id } }`,
      { a: keyedAppId, s: { apiKey: 'k' } },
    )
  ).data!.createConnection.id;
  workflowId = (
    await gql<{ createWorkflow: { id: string } }>(`mutation { createWorkflow(name: "W") { id } }`)
  ).data!.createWorkflow.id;
});

afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('checks at save', () => {
  it('refuses workflow definitions that would fail on every run, naming the field', async () => {
    const step = (extra: Record<string, unknown>) => ({
      id: 'a',
      actionId: openActionId,
      ...extra,
    });
    const cases: Array<[unknown, string, RegExp]> = [
      [
        { steps: [step({ input: { id: '{{ trigger.body.id' } })] },
        'definition.steps[0].input.id',
        /unclosed "\{\{"/,
      ],
      [
        { steps: [step({ input: { list: ['ok', 'id {{ trigger.body.id }} and {{ run.id'] } })] },
        'definition.steps[0].input.list[1]',
        /unclosed/,
      ],
      [
        { steps: [step({ input: { id: '{{ trigger..body }}' } })] },
        'definition.steps[0].input.id',
        /not a valid path/,
      ],
      [
        { steps: [step({ input: { id: '{{ }}' } })] },
        'definition.steps[0].input.id',
        /empty reference/,
      ],
      [{ steps: [step({ if: '{{ trigger.body.ok' })] }, 'definition.steps[0].if', /unclosed/],
      [{ steps: [step({ if: 'body.ok' })] }, 'definition.steps[0].if', /starts with trigger/],
      [
        {
          steps: [
            step({}),
            { id: 'b', actionId: openActionId, input: { x: '{{ steps.a.result }}' } },
          ],
        },
        'definition.steps[1].input.x',
        /only "output"/,
      ],
      [
        { steps: [step({ input: { x: '{{ run.startedAt }}' } })] },
        'definition.steps[0].input.x',
        /run offers id, attempt, time, workflowId/,
      ],
      [{ steps: [step({ conditon: 'true' })] }, 'definition.steps[0].conditon', /not a step field/],
      [JSON.stringify({ steps: [step({})] }), 'definition', /as a GraphQL variable, not JSON text/],
      [
        { steps: [{ id: 'me', actionId: keyedActionId }] },
        'definition.steps[0].connectionId',
        /connectionId is required: the app "keyed" authenticates with api_key/,
      ],
    ];
    for (const [definition, field, message] of cases) {
      const r = await gql(SAVE, { w: workflowId, d: definition });
      expect(failure(r), JSON.stringify(definition)).toEqual({ code: 'E_VALIDATION', field });
      expect(r.errors?.[0]?.message).toMatch(message);
    }
    const saved = await db.ownerPool.query(
      'select 1 from workflow_versions where workflow_id = $1',
      [workflowId],
    );
    expect(saved.rowCount).toBe(0);

    // The same steps, written right, save.
    const good = await gql(SAVE, {
      w: workflowId,
      d: {
        steps: [
          step({ input: { id: '{{ trigger.body.id }}' }, if: 'trigger.body.ok' }),
          { id: 'me', actionId: keyedActionId, connectionId: keyedConnectionId },
          {
            id: 'c',
            actionId: openActionId,
            input: { id: 'n-{{ steps.a.output.id }}', at: '{{ run.time }}' },
            if: '{{ steps.me.output.active }}',
          },
        ],
      },
    });
    expect(good.errors).toBeUndefined();
  });

  it('refuses HTTP actions with a method or path that cannot work, naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ method: 'FETCH', path: '/x' }, 'implementation.method'],
      [{ method: 'GET', path: '/items/{{ input.id' }, 'implementation.path'],
      [{ method: 'GET', path: '/items/{{ trigger.body.id }}' }, 'implementation.path'],
      [{ method: 'GET', url: 'not a url/{{ input.id }}' }, 'implementation.url'],
      [{ method: 'POST', path: '/x', body: { a: '{{ input.a' } }, 'implementation.body.a'],
      [{ method: 'GET', path: '/x', bodyType: 'xml' }, 'implementation.bodyType'],
      [{ method: 'GET', path: '/x', heders: {} }, 'implementation.heders'],
    ];
    for (const [implementation, field] of cases) {
      const r = await gql(CREATE_ACTION, { i: httpAction(openAppId, implementation, 'bad') });
      expect(failure(r), JSON.stringify(implementation)).toEqual({ code: 'E_VALIDATION', field });
    }
    const none = await db.ownerPool.query(`select 1 from actions where key = 'bad'`);
    expect(none.rowCount).toBe(0);
    // A templated method, lower case and an absolute URL template are fine.
    for (const [i, implementation] of [
      { method: '{{ input.method }}', path: '/x' },
      { method: 'post', url: 'https://hooks.example.test/{{ input.path }}' },
      { method: 'GET', url: '{{ input.url }}' },
    ].entries()) {
      const ok = await gql(CREATE_ACTION, { i: httpAction(openAppId, implementation, `ok${i}`) });
      expect(ok.errors, JSON.stringify(implementation)).toBeUndefined();
    }
  });

  it('refuses a connection without the secret field its app’s auth kind needs', async () => {
    const apps = await gql<{ apps: { nodes: Array<{ id: string; key: string }> } }>(
      '{ apps(first: 100) { nodes { id key } } }',
    );
    const keyedAppId = apps.data!.apps.nodes.find((a) => a.key === 'keyed')!.id;
    const CREATE = `mutation($a: ID!, $s: JSON) { createConnection(appId: $a, name: "x", secret: $s) { id } }`;
    for (const s of [null, { token: 'k' }, { apiKey: '' }]) {
      const r = await gql(CREATE, { a: keyedAppId, s });
      expect(failure(r), JSON.stringify(s)).toEqual({
        code: 'E_VALIDATION',
        field: 'secret.apiKey',
      });
    }
    const update = await gql(
      `mutation($id: ID!, $s: JSON) { updateConnection(id: $id, name: "prod", secret: $s) { id } }`,
      { id: keyedConnectionId, s: { key: 'k' } },
    );
    expect(failure(update)).toEqual({ code: 'E_VALIDATION', field: 'secret.apiKey' });
  });

  it('answers E_CONFLICT naming the field for a key already used, on create and update', async () => {
    const dupApp = await gql(CREATE_APP, {
      i: { key: 'open', name: 'Again', authKind: 'none' },
    });
    expect(failure(dupApp)).toEqual({ code: 'E_CONFLICT', field: 'key' });
    expect(dupApp.errors?.[0]?.message).toMatch(/already has this key/);

    const other = await gql<{ createApp: { id: string } }>(CREATE_APP, {
      i: { key: 'other', name: 'Other', authKind: 'none' },
    });
    const rename = await gql(
      `mutation($id: ID!, $i: AppInput!) { updateApp(id: $id, input: $i) { id } }`,
      { id: other.data!.createApp.id, i: { key: 'open', name: 'Other', authKind: 'none' } },
    );
    expect(failure(rename)).toEqual({ code: 'E_CONFLICT', field: 'key' });

    const dupAction = await gql(CREATE_ACTION, {
      i: httpAction(openAppId, { method: 'GET', path: '/y' }, 'get-item'),
    });
    expect(failure(dupAction)).toEqual({ code: 'E_CONFLICT', field: 'key' });
    const second = await gql<{ createAction: { id: string } }>(CREATE_ACTION, {
      i: httpAction(openAppId, { method: 'GET', path: '/y' }, 'get-other'),
    });
    const renameAction = await gql(
      `mutation($id: ID!, $i: ActionInput!) { updateAction(id: $id, input: $i) { id } }`,
      {
        id: second.data!.createAction.id,
        i: httpAction(openAppId, { method: 'GET', path: '/y' }, 'get-item'),
      },
    );
    expect(failure(renameAction)).toEqual({ code: 'E_CONFLICT', field: 'key' });
  });
});
