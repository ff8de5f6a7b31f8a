/**
 * Definition version 2 through GraphQL: saveWorkflowVersion accepts a definition that uses
 * every construct and stores it with its defaults filled; it refuses, naming the JSON path,
 * what the database must confirm at any depth (the action, the connection of the same
 * tenant and app, the called workflow) as well as a path rule; version 1 is saved as before.
 * testWorkflow and testStep take version 2 drafts, with pins at any depth.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type GqlResult, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let token: string;
let otherToken: string;
let jsActionId: string;
let keyedActionId: string;
let keyedConnectionId: string;
let otherConnectionId: string;
let otherWorkflowId: string;
let workflowId: string;
let childId: string;
let archivedId: string;

/** The stored definition, as much of it as the assertions read. */
type Stored = {
  version?: number;
  steps: Array<Record<string, unknown> & { branches?: Array<{ steps: unknown[] }> }>;
  onFailure?: { steps: Array<{ id: string }> };
};

const SAVE = `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { version definition } }`;

async function gql<T = Record<string, unknown>>(query: string, variables = {}, t = token) {
  return api.gql<T>(query, variables, { token: t });
}

function failure(r: GqlResult) {
  return {
    code: r.errors?.[0]?.extensions?.code,
    field: r.errors?.[0]?.extensions?.field,
  };
}

async function keyedApp(t: string): Promise<{ actionId: string; connectionId: string }> {
  const app = await gql<{ createApp: { id: string } }>(
    `mutation($i: AppInput!) { createApp(input: $i) { id } }`,
    {
      i: {
        key: 'keyed',
        name: 'Keyed',
        baseUrl: 'https://api.example.test',
        authKind: 'api_key',
        authConfig: { in: 'header', name: 'X-Api-Key' },
      },
    },
    t,
  );
  const appId = app.data!.createApp.id;
  const action = await gql<{ createAction: { id: string } }>(
    `mutation($i: ActionInput!) { createAction(input: $i) { id } }`,
    {
      i: {
        appId,
        key: 'me',
        name: 'Me',
        kind: 'http',
        implementation: { method: 'GET', path: '/me' },
      },
    },
    t,
  );
  const connection = await gql<{ createConnection: { id: string } }>(
    `mutation($a: ID!, $s: JSON) { createConnection(appId: $a, name: "prod", secret: $s) { id } }`,
    { a: appId, s: { apiKey: 'k' } },
    t,
  );
  return {
    actionId: action.data!.createAction.id,
    connectionId: connection.data!.createConnection.id,
  };
}

async function newWorkflow(name: string, t = token): Promise<string> {
  const r = await gql<{ createWorkflow: { id: string } }>(
    `mutation($n: String!) { createWorkflow(name: $n) { id } }`,
    { n: name },
    t,
  );
  return r.data!.createWorkflow.id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  token = (await makeTenant(db.pool, 'Builder')).apiToken;
  otherToken = (await makeTenant(db.pool, 'Other')).apiToken;
  const apps = await gql<{
    apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
  }>('{ apps(first: 100) { nodes { key actions { id } } } }');
  jsActionId = apps.data!.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!.id;
  ({ actionId: keyedActionId, connectionId: keyedConnectionId } = await keyedApp(token));
  ({ connectionId: otherConnectionId } = await keyedApp(otherToken));
  otherWorkflowId = await newWorkflow('Theirs', otherToken);
  workflowId = await newWorkflow('Orders');
  childId = await newWorkflow('Child');
  archivedId = await newWorkflow('Old');
  await gql(`mutation($id: ID!) { updateWorkflow(id: $id, name: "Old", archived: true) { id } }`, {
    id: archivedId,
  });
});

afterAll(async () => {
  await api.close();
  await db.drop();
});

const js = (id: string, input: Record<string, unknown> = {}, extra = {}) => ({
  id,
  actionId: jsActionId,
  input: { code: 'return input;', ...input },
  ...extra,
});

/** Every construct of version 2 in one definition. */
function everything() {
  return {
    version: 2,
    steps: [
      js('fetch', { order: '{{ trigger.body.order }}' }, { onError: { goto: 'notify' } }),
      js('mail', { link: '{{ run.waits.approval.url }}' }),
      { id: 'approval', type: 'waitForEvent', timeout: '3d', onTimeout: 'continue' },
      {
        id: 'route',
        type: 'switch',
        branches: [
          {
            name: 'big',
            when: '{{ steps.fetch.output.big }}',
            steps: [
              { id: 'me', actionId: keyedActionId, connectionId: keyedConnectionId },
              { id: 'cool_off', type: 'delay', duration: '15m' },
            ],
          },
        ],
        default: { steps: [{ id: 'remind', type: 'waitUntil', until: '{{ trigger.body.at }}' }] },
      },
      {
        id: 'lines',
        type: 'forEach',
        items: '{{ steps.fetch.output.lines }}',
        concurrency: 5,
        onItemError: 'continue',
        steps: [js('line', { sku: '{{ loop.item.sku }}', n: '{{ loop.index }}' })],
      },
      {
        id: 'child',
        type: 'callWorkflow',
        workflowId: childId,
        input: { o: '{{ trigger.body }}' },
      },
      js('notify', {
        why: '{{ error.message ?? "ok" }}',
        me: '{{ steps.me.output ?? null }}',
        lines: '{{ steps.lines.output ?? null }}',
      }),
    ],
    onFailure: { steps: [js('alert', { code: '{{ error.code }}', at: '{{ error.stepId }}' })] },
  };
}

describe('saveWorkflowVersion, definition version 2', () => {
  it('accepts every construct and stores the defaults', async () => {
    const r = await gql<{ saveWorkflowVersion: { version: number; definition: Stored } }>(SAVE, {
      w: workflowId,
      d: everything(),
    });
    expect(r.errors).toBeUndefined();
    const stored = r.data!.saveWorkflowVersion.definition;
    expect(stored.version).toBe(2);
    expect(stored.steps[0]).toMatchObject({ type: 'action', connectionId: null, if: null });
    expect(stored.steps[3]!.branches![0]!.steps[0]).toMatchObject({ onError: 'fail', input: {} });
    expect(stored.steps[4]).toMatchObject({ concurrency: 5, onItemError: 'continue' });
    expect(stored.steps[5]).toMatchObject({ wait: true, onError: 'fail' });
    expect(stored.onFailure!.steps[0]!.id).toBe('alert');
  });

  it('refuses, naming the path, what only the database can tell — at any depth', async () => {
    const nested = (step: Record<string, unknown>) => ({
      version: 2,
      steps: [
        {
          id: 'route',
          type: 'switch',
          branches: [{ name: 'a', when: '{{ trigger.a }}', steps: [js('first'), step] }],
        },
      ],
    });
    const at = 'definition.steps[0].branches[0].steps[1]';
    const cases: Array<[unknown, string]> = [
      [nested({ id: 'x', actionId: '00000000-0000-4000-8000-000000000001' }), `${at}.actionId`],
      [nested({ id: 'x', actionId: keyedActionId }), `${at}.connectionId`],
      [
        nested({ id: 'x', actionId: keyedActionId, connectionId: otherConnectionId }),
        `${at}.connectionId`,
      ],
      [nested({ id: 'x', type: 'callWorkflow', workflowId }), `${at}.workflowId`],
      [nested({ id: 'x', type: 'callWorkflow', workflowId: otherWorkflowId }), `${at}.workflowId`],
      [nested({ id: 'x', type: 'callWorkflow', workflowId: archivedId }), `${at}.workflowId`],
      [
        nested({
          id: 'x',
          type: 'forEach',
          items: '{{ trigger.list }}',
          steps: [{ id: 'y', actionId: '00000000-0000-4000-8000-000000000002' }],
        }),
        `${at}.steps[0].actionId`,
      ],
      [nested(js('x', { to: '{{ steps.later.output }}' })), `${at}.input.to`],
      [{ version: 3, steps: [js('a')] }, 'definition.version'],
    ];
    for (const [definition, field] of cases) {
      const r = await gql(SAVE, { w: workflowId, d: definition });
      expect(failure(r), JSON.stringify(definition)).toEqual({ code: 'E_VALIDATION', field });
      expect(r.errors![0]!.message).toContain(field);
    }
    // A reference after the join to a branch's step, through GraphQL.
    const join = await gql(SAVE, {
      w: workflowId,
      d: {
        ...nested(js('x')),
        steps: [...nested(js('x')).steps, js('after', { v: '{{ steps.x.output }}' })],
      },
    });
    expect(failure(join)).toEqual({ code: 'E_VALIDATION', field: 'definition.steps[1].input.v' });
    expect(join.errors![0]!.message).toMatch(/may not have run/);
  });

  it('refuses a call that leads back to the workflow through the workflows it calls', async () => {
    const create = async (name: string) =>
      (
        await gql<{ createWorkflow: { id: string } }>(
          `mutation($n: String!) { createWorkflow(name: $n) { id } }`,
          { n: name },
        )
      ).data!.createWorkflow.id;
    const calls = (to: string) => ({
      version: 2,
      steps: [{ id: 'call', type: 'callWorkflow', workflowId: to }],
    });
    const a = await create('Cycle A');
    const b = await create('Cycle B');
    const c = await create('Cycle C');
    // C calls A, B calls C: saving A calling B would close A → B → C → A.
    expect((await gql(SAVE, { w: a, d: { version: 2, steps: [js('a')] } })).errors).toBeUndefined();
    expect((await gql(SAVE, { w: c, d: calls(a) })).errors).toBeUndefined();
    expect((await gql(SAVE, { w: b, d: calls(c) })).errors).toBeUndefined();
    const r = await gql(SAVE, { w: a, d: calls(b) });
    expect(failure(r)).toEqual({ code: 'E_VALIDATION', field: 'definition.steps[0].workflowId' });
    expect(r.errors![0]!.message).toContain('"Cycle B" → "Cycle C" → this workflow');
    // Calling C alone is no cycle once C no longer calls back.
    expect((await gql(SAVE, { w: c, d: { version: 2, steps: [js('c')] } })).errors).toBeUndefined();
    expect((await gql(SAVE, { w: a, d: calls(b) })).errors).toBeUndefined();
  });

  it('saves version 1 as before (no version field stored)', async () => {
    const r = await gql<{ saveWorkflowVersion: { definition: Stored } }>(SAVE, {
      w: workflowId,
      d: {
        steps: [
          js('a', {}, { if: 'trigger.body.paid ?? false' }),
          js('b', { v: '{{ steps.a.output ?? "none" }}' }),
        ],
      },
    });
    expect(r.errors).toBeUndefined();
    expect(r.data!.saveWorkflowVersion.definition).toEqual({
      steps: [
        expect.objectContaining({ id: 'a', onError: 'fail' }),
        expect.objectContaining({ id: 'b' }),
      ],
    });
  });
});

describe('testWorkflow and testStep, definition version 2', () => {
  type Run = { id: string; isTest: boolean; pinnedStepIds: string[] };
  const TEST = `mutation($w: ID!, $d: JSON!, $p: JSON) {
    testWorkflow(workflowId: $w, definition: $d, pinnedOutputs: $p) { id isTest pinnedStepIds } }`;
  const STEP = `mutation($w: ID!, $d: JSON!, $s: String!, $o: JSON) {
    testStep(workflowId: $w, definition: $d, stepId: $s, stepOutputs: $o) { id isTest pinnedStepIds } }`;

  it('pins action steps at any depth', async () => {
    const r = await gql<{ testWorkflow: Run }>(TEST, {
      w: workflowId,
      d: everything(),
      p: { me: { id: 'u1' }, line: { ok: true }, alert: null, fetch: { big: true, lines: [] } },
    });
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    expect(r.data!.testWorkflow.isTest).toBe(true);
    expect([...r.data!.testWorkflow.pinnedStepIds].sort()).toEqual([
      'alert',
      'fetch',
      'line',
      'me',
    ]);
  });

  it('refuses a pin of a block, wait or call, and of a step the draft lacks', async () => {
    for (const [pin, field] of [
      ['route', 'pinnedOutputs.route'],
      ['approval', 'pinnedOutputs.approval'],
      ['nope', 'pinnedOutputs.nope'],
    ]) {
      const r = await gql(TEST, { w: workflowId, d: everything(), p: { [pin!]: 1 } });
      expect(failure(r)).toEqual({ code: 'E_VALIDATION', field });
    }
  });

  it('testStep runs a nested action step with every earlier step pinned', async () => {
    const r = await gql<{ testStep: Run }>(STEP, {
      w: workflowId,
      d: everything(),
      s: 'me',
      o: { fetch: { big: true }, approval: { approved: true } },
    });
    expect(r.errors).toBeUndefined();
    expect(r.data!.testStep.pinnedStepIds).toEqual(['fetch', 'mail', 'approval', 'route']);
    // After the join: the main path's steps, and a branch's step only when given an output.
    const after = await gql<{ testStep: Run }>(STEP, {
      w: workflowId,
      d: everything(),
      s: 'notify',
      o: { me: { id: 'u1' } },
    });
    expect(after.errors).toBeUndefined();
    expect(after.data!.testStep.pinnedStepIds).toEqual([
      'fetch',
      'mail',
      'approval',
      'route',
      'me',
      'lines',
      'child',
    ]);
    const notAction = await gql(STEP, { w: workflowId, d: everything(), s: 'lines' });
    expect(failure(notAction)).toEqual({ code: 'E_VALIDATION', field: 'stepId' });
  });
});
