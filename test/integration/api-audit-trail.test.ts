/**
 * The audit trail through the product API: every critical change made over GraphQL leaves one
 * event with actor, target, IP, request id and outcome, readable by admins with `auditEvents`,
 * and no event holds a secret value. Archiving a workflow (its "delete": runs keep their
 * history) stops new runs and survives a rename.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let owner: string;
let tenantId: string;
const CANARY = 'canary-Zq81-secret-value';

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  const t = await makeTenant(db.pool, 'Audited');
  owner = t.apiToken;
  tenantId = t.tenantId;
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

let requestSeq = 0;
/** A GraphQL call as the owner's token, with its own request id; fails the test on errors. */
async function call<T>(query: string, variables: Record<string, unknown> = {}) {
  const requestId = `req-audit-${++requestSeq}`;
  const res = await api.gql<T>(query, variables, {
    token: owner,
    headers: { 'x-request-id': requestId },
  });
  expect(res.errors, query).toBeUndefined();
  return { data: res.data!, requestId };
}

describe('audit trail over the API', () => {
  it('records each critical change once, with actor, target, IP and request id, and no secret', async () => {
    const expected: Array<{ action: string; targetId: string; requestId: string }> = [];
    const note = (action: string, targetId: string, requestId: string) =>
      expected.push({ action, targetId, requestId });

    const app = await call<{ createApp: { id: string } }>(
      `mutation($i: AppInput!) { createApp(input: $i) { id } }`,
      {
        i: {
          key: 'crm',
          name: 'CRM',
          baseUrl: 'https://crm.example.test',
          authKind: 'bearer',
          connectionSchema: { type: 'object' },
        },
      },
    );
    const appId = app.data.createApp.id;
    note('app.created', appId, app.requestId);
    const appUpd = await call(
      `mutation($id: ID!, $i: AppInput!) { updateApp(id: $id, input: $i) { id } }`,
      {
        id: appId,
        i: { key: 'crm', name: 'CRM 2', authKind: 'bearer', connectionSchema: { type: 'object' } },
      },
    );
    note('app.updated', appId, appUpd.requestId);

    const actionInput = {
      appId,
      key: 'ping',
      name: 'Ping',
      kind: 'http',
      implementation: { method: 'GET', path: '/ping' },
    };
    const act = await call<{ createAction: { id: string } }>(
      `mutation($i: ActionInput!) { createAction(input: $i) { id } }`,
      { i: actionInput },
    );
    const actionId = act.data.createAction.id;
    note('action.created', actionId, act.requestId);
    const actUpd = await call(
      `mutation($id: ID!, $i: ActionInput!) { updateAction(id: $id, input: $i) { id } }`,
      { id: actionId, i: { ...actionInput, name: 'Ping 2' } },
    );
    note('action.updated', actionId, actUpd.requestId);

    const conn = await call<{ createConnection: { id: string } }>(
      `mutation($a: ID!, $s: JSON) { createConnection(appId: $a, name: "prod", secret: $s) { id } }`,
      { a: appId, s: { token: CANARY } },
    );
    const connectionId = conn.data.createConnection.id;
    note('connection.created', connectionId, conn.requestId);
    const connUpd = await call(
      `mutation($id: ID!, $s: JSON) { updateConnection(id: $id, name: "prod 2", secret: $s) { id } }`,
      { id: connectionId, s: { token: `${CANARY}-2` } },
    );
    note('connection.updated', connectionId, connUpd.requestId);

    const wf = await call<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "audited") { id } }`,
    );
    const workflowId = wf.data.createWorkflow.id;
    note('workflow.created', workflowId, wf.requestId);
    const version = await call<{ saveWorkflowVersion: { id: string } }>(
      `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
      {
        w: workflowId,
        d: { steps: [{ id: 'ping', actionId, connectionId, input: {} }] },
      },
    );
    note('workflow.version_published', workflowId, version.requestId);

    const trig = await call<{ createTrigger: { secret: string; trigger: { id: string } } }>(
      `mutation($w: ID!) { createTrigger(workflowId: $w, kind: webhook) { secret trigger { id } } }`,
      { w: workflowId },
    );
    const triggerId = trig.data.createTrigger.trigger.id;
    const webhookSecret = trig.data.createTrigger.secret;
    note('trigger.created', triggerId, trig.requestId);
    const rotated = await call<{ rotateWebhookSecret: { secret: string } }>(
      `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`,
      { id: triggerId },
    );
    note('trigger.secret_rotated', triggerId, rotated.requestId);
    const trigUpd = await call(
      `mutation($id: ID!) { updateTrigger(id: $id, name: "hook", enabled: false) { id } }`,
      { id: triggerId },
    );
    note('trigger.updated', triggerId, trigUpd.requestId);

    const started = await call<{ triggerWorkflow: { run: { id: string } } }>(
      `mutation($w: ID!, $i: JSON) { triggerWorkflow(workflowId: $w, input: $i) { run { id } } }`,
      { w: workflowId, i: { a: 1 } },
    );
    const runId = started.data.triggerWorkflow.run.id;
    note('run.triggered', runId, started.requestId);
    const canceled = await call(`mutation($id: ID!) { cancelRun(id: $id) { status } }`, {
      id: runId,
    });
    note('run.canceled', runId, canceled.requestId);

    const trigDel = await call(`mutation($id: ID!) { deleteTrigger(id: $id) }`, {
      id: triggerId,
    });
    note('trigger.deleted', triggerId, trigDel.requestId);
    const archived = await call(
      `mutation($id: ID!) { updateWorkflow(id: $id, name: "audited", archived: true) { id } }`,
      { id: workflowId },
    );
    note('workflow.updated', workflowId, archived.requestId);
    const connDel = await call(`mutation($id: ID!) { deleteConnection(id: $id) }`, {
      id: connectionId,
    });
    note('connection.deleted', connectionId, connDel.requestId);

    const spare = await call<{ createApp: { id: string } }>(
      `mutation($i: AppInput!) { createApp(input: $i) { id } }`,
      {
        i: { key: 'spare', name: 'Spare', authKind: 'none', connectionSchema: { type: 'object' } },
      },
    );
    const spareId = spare.data.createApp.id;
    const spareAction = await call<{ createAction: { id: string } }>(
      `mutation($i: ActionInput!) { createAction(input: $i) { id } }`,
      { i: { ...actionInput, appId: spareId } },
    );
    const actDel = await call(`mutation($id: ID!) { deleteAction(id: $id) }`, {
      id: spareAction.data.createAction.id,
    });
    note('action.deleted', spareAction.data.createAction.id, actDel.requestId);
    const appDel = await call(`mutation($id: ID!) { deleteApp(id: $id) }`, { id: spareId });
    note('app.deleted', spareId, appDel.requestId);

    const events = await call<{
      auditEvents: {
        nodes: Array<{
          action: string;
          actorKind: string;
          actorId: string | null;
          targetId: string | null;
          ip: string | null;
          requestId: string | null;
          outcome: string;
          metadata: unknown;
        }>;
      };
    }>(
      `{ auditEvents(first: 100) { nodes { action actorKind actorId targetId ip requestId outcome metadata } } }`,
    );
    for (const e of expected) {
      const matching = events.data.auditEvents.nodes.filter((a) => a.requestId === e.requestId);
      expect(matching, e.action).toEqual([
        expect.objectContaining({
          action: e.action,
          targetId: e.targetId,
          actorKind: 'token',
          ip: '127.0.0.1',
          outcome: 'success',
        }),
      ]);
      expect(matching[0]!.actorId).toBeTruthy();
    }

    // No secret value in any stored event, whatever column it could hide in.
    const stored = await db.ownerPool.query<{ row: string }>(
      `select to_jsonb(e)::text as row from audit_events e where tenant_id = $1`,
      [tenantId],
    );
    const everything = stored.rows.map((r) => r.row).join('\n');
    for (const secret of [
      CANARY,
      webhookSecret,
      webhookSecret.slice('whsec_'.length),
      rotated.data.rotateWebhookSecret.secret.slice('whsec_'.length),
      owner,
    ]) {
      expect(everything).not.toContain(secret);
    }
  });

  it('archiving a workflow stops new runs, survives a rename, and is undone by unarchiving', async () => {
    const wf = await call<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "to archive", description: "keeps this") { id } }`,
    );
    const id = wf.data.createWorkflow.id;
    const apps = await call<{
      apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
    }>(`{ apps(first: 100) { nodes { key actions { id } } } }`);
    const js = apps.data.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!.id;
    await call(
      `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
      { w: id, d: { steps: [{ id: 'noop', actionId: js, input: { code: 'return 1;' } }] } },
    );
    const start = () =>
      api.gql(
        `mutation($w: ID!) { triggerWorkflow(workflowId: $w) { run { id } } }`,
        { w: id },
        {
          token: owner,
        },
      );
    await call(`mutation($id: ID!) { updateWorkflow(id: $id, name: "x", archived: true) { id } }`, {
      id,
    });
    const refused = await start();
    expect(refused.errors?.[0]?.extensions?.code).toBe('E_WORKFLOW_NOT_PUBLISHED');
    expect(refused.errors?.[0]?.message).toMatch(/archived/);

    // A rename without `archived` keeps it archived and keeps the description.
    const renamed = await call<{
      updateWorkflow: { name: string; description: string; archivedAt: string | null };
    }>(
      `mutation($id: ID!) { updateWorkflow(id: $id, name: "renamed") { name description archivedAt } }`,
      {
        id,
      },
    );
    expect(renamed.data.updateWorkflow).toMatchObject({
      name: 'renamed',
      description: 'keeps this',
      archivedAt: expect.any(String) as unknown,
    });
    expect((await start()).errors?.[0]?.extensions?.code).toBe('E_WORKFLOW_NOT_PUBLISHED');
    const listed = await call<{ workflows: { nodes: Array<{ id: string }> } }>(
      `{ workflows(first: 100) { nodes { id } } }`,
    );
    expect(listed.data.workflows.nodes.map((w) => w.id)).not.toContain(id);

    await call(
      `mutation($id: ID!) { updateWorkflow(id: $id, name: "renamed", archived: false) { id } }`,
      {
        id,
      },
    );
    expect((await start()).errors).toBeUndefined();
  });
});
