import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { petsSwagger2, treeApi31 } from '../support/openapi-fixtures.ts';
import { startServer, type LocalServer } from '../support/runner-servers.ts';

let db: TestDatabase;
let api: TestApi;
let docs: LocalServer;
let owner: string;
let viewer: string;

const IMPORT = `mutation($d: String, $u: String, $o: OpenApiImportOptions) {
  importOpenApi(document: $d, url: $u, options: $o) {
    dryRun appCreated appKey appName baseUrl authKind format version warnings
    app { id key authKind authConfig }
    created { key name method path } updated { key } unchanged { key } deprecated { key }
    workflowsUsingDeprecated { workflowId workflowName actionKeys }
    servers { url variables { name default enum } }
    securitySchemes { name type usable }
  }
}`;

type Op = { key: string };
type ImportResult = {
  importOpenApi: {
    dryRun: boolean;
    appCreated: boolean;
    appKey: string;
    baseUrl: string | null;
    authKind: string;
    format: string;
    app: { id: string; key: string } | null;
    created: Op[];
    updated: Op[];
    unchanged: Op[];
    deprecated: Op[];
    workflowsUsingDeprecated: Array<{
      workflowId: string;
      workflowName: string;
      actionKeys: string[];
    }>;
    servers: Array<{ url: string }>;
    warnings: string[];
  };
};

const keys = (ops: Op[]) => ops.map((o) => o.key).sort();

beforeAll(async () => {
  db = await createTestDatabase();
  docs = await startServer((req, res) => {
    if (req.url === '/trees.yaml') {
      res.writeHead(200, { 'content-type': 'application/yaml' });
      res.end(stringify(treeApi31()));
    } else {
      res.writeHead(404);
      res.end('no');
    }
  });
  api = await startTestApi(db, { GATE_ALLOW_HTTP_HOSTS: docs.hostPort });
  const t = await makeTenant(db.pool, 'Importer');
  owner = t.apiToken;
  const r = await api.gql<{ createApiToken: { secret: string } }>(
    `mutation { createApiToken(name: "v", role: viewer) { secret } }`,
    {},
    { token: owner },
  );
  viewer = r.data!.createApiToken.secret;
});
afterAll(async () => {
  await api.close();
  await docs.close();
  await db.drop();
});

async function importDoc(vars: Record<string, unknown>, token = owner) {
  return api.gql<ImportResult>(IMPORT, vars, { token });
}

async function actionsOf(appId: string) {
  const r = await api.gql<{
    app: { actions: Array<{ key: string; deprecatedAt: string | null }> };
  }>(
    `query($a: ID!) { app(id: $a) { actions { key deprecatedAt } } }`,
    { a: appId },
    { token: owner },
  );
  return r.data!.app.actions;
}

describe('importOpenApi', () => {
  it('creates an app with one action per operation, auth and base URL from the document', async () => {
    const r = await importDoc({ d: JSON.stringify(treeApi31()) });
    expect(r.errors).toBeUndefined();
    const res = r.data!.importOpenApi;
    expect(res).toMatchObject({
      dryRun: false,
      appCreated: true,
      appKey: 'tree-service',
      baseUrl: 'https://eu.trees.example.com/v1',
      authKind: 'api_key',
      format: 'openapi 3.1.0',
      app: { key: 'tree-service' },
    });
    expect(keys(res.created)).toEqual(['create_tree', 'delete_tree', 'get_tree', 'list_trees']);
    expect(res.servers.map((s) => s.url)).toEqual([
      'https://{region}.trees.example.com/v1',
      'https://sandbox.trees.example.com/v1',
    ]);
    expect((await actionsOf(res.app!.id)).map((a) => a.key).sort()).toEqual(keys(res.created));
  });

  it('previews a re-import with dryRun, then updates by key and deprecates what vanished', async () => {
    const first = await importDoc({ d: JSON.stringify(treeApi31()), o: { dryRun: true } });
    const appId = first.data!.importOpenApi.app!.id;
    expect(keys(first.data!.importOpenApi.unchanged)).toHaveLength(4);

    // A workflow calls delete_tree.
    const actions = await api.gql<{ app: { actions: Array<{ id: string; key: string }> } }>(
      `query($a: ID!) { app(id: $a) { actions { id key } } }`,
      { a: appId },
      { token: owner },
    );
    const del = actions.data!.app.actions.find((a) => a.key === 'delete_tree')!;
    const wf = await api.gql<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "Prune") { id } }`,
      {},
      { token: owner },
    );
    const workflowId = wf.data!.createWorkflow.id;
    const conn = await api.gql<{ createConnection: { id: string } }>(
      `mutation($a: ID!, $s: JSON) { createConnection(appId: $a, name: "trees", secret: $s) { id } }`,
      { a: appId, s: { apiKey: 'k' } },
      { token: owner },
    );
    const connectionId = conn.data!.createConnection.id;
    const saved = await api.gql(
      `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
      {
        w: workflowId,
        d: {
          steps: [{ id: 'del', actionId: del.id, connectionId, input: { path: { treeId: 'x' } } }],
        },
      },
      { token: owner },
    );
    expect(saved.errors).toBeUndefined();
    // A version-2 definition calling it inside a loop body uses it too.
    const nestedWf = await api.gql<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "Prune nested") { id } }`,
      {},
      { token: owner },
    );
    const nestedId = nestedWf.data!.createWorkflow.id;
    const nested = await api.gql(
      `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
      {
        w: nestedId,
        d: {
          version: 2,
          steps: [
            {
              id: 'each',
              type: 'forEach',
              items: '{{ trigger.body.trees }}',
              steps: [
                {
                  id: 'del',
                  actionId: del.id,
                  connectionId,
                  input: { path: { treeId: '{{ loop.item }}' } },
                },
              ],
            },
          ],
        },
      },
      { token: owner },
    );
    expect(nested.errors).toBeUndefined();

    const v2 = JSON.stringify(
      treeApi31({ version: '2', dropDelete: true, renameList: 'All trees' }),
    );
    const preview = await importDoc({ d: v2, o: { dryRun: true } });
    expect(preview.data!.importOpenApi).toMatchObject({ dryRun: true, appCreated: false });
    expect(keys(preview.data!.importOpenApi.updated)).toEqual(['list_trees']);
    expect(keys(preview.data!.importOpenApi.deprecated)).toEqual(['delete_tree']);
    expect(preview.data!.importOpenApi.workflowsUsingDeprecated).toEqual([
      { workflowId, workflowName: 'Prune', actionKeys: ['delete_tree'] },
      { workflowId: nestedId, workflowName: 'Prune nested', actionKeys: ['delete_tree'] },
    ]);
    // Nothing written.
    expect((await actionsOf(appId)).every((a) => a.deprecatedAt === null)).toBe(true);

    const applied = await importDoc({ d: v2 });
    expect(keys(applied.data!.importOpenApi.deprecated)).toEqual(['delete_tree']);
    expect(applied.data!.importOpenApi.workflowsUsingDeprecated).toHaveLength(2);
    const after = await actionsOf(appId);
    expect(after.find((a) => a.key === 'delete_tree')?.deprecatedAt).not.toBeNull();
    expect(after.find((a) => a.key === 'list_trees')?.deprecatedAt).toBeNull();
    const renamed = await api.gql<{ app: { actions: Array<{ key: string; name: string }> } }>(
      `query($a: ID!) { app(id: $a) { actions { key name } } }`,
      { a: appId },
      { token: owner },
    );
    expect(renamed.data!.app.actions.find((a) => a.key === 'list_trees')?.name).toBe('All trees');

    // Importing again deprecates nothing new, but still lists the workflows.
    const again = await importDoc({ d: v2 });
    expect(again.data!.importOpenApi.deprecated).toEqual([]);
    expect(keys(again.data!.importOpenApi.unchanged)).toHaveLength(3);
    expect(again.data!.importOpenApi.workflowsUsingDeprecated).toHaveLength(2);

    // A builder's own name and base URL survive a re-import that does not set them.
    const renamedApp = await api.gql(
      `mutation($id: ID!, $i: AppInput!) { updateApp(id: $id, input: $i) { id } }`,
      {
        id: appId,
        i: {
          key: 'tree-service',
          name: 'Trees (sandbox)',
          baseUrl: 'https://sandbox.trees.example.com/v1',
          authKind: 'api_key',
          authConfig: { in: 'header', name: 'X-Api-Key' },
          connectionSchema: { type: 'object' },
        },
      },
      { token: owner },
    );
    expect(renamedApp.errors).toBeUndefined();
    const kept = await importDoc({ d: v2 });
    expect(kept.data!.importOpenApi).toMatchObject({
      appName: 'Trees (sandbox)',
      baseUrl: 'https://sandbox.trees.example.com/v1',
    });
    const chosen = await importDoc({ d: v2, o: { serverVariables: { region: 'us' } } });
    expect(chosen.data!.importOpenApi.baseUrl).toBe('https://us.trees.example.com/v1');

    // The operation comes back: the action is live again.
    const back = await importDoc({ d: JSON.stringify(treeApi31()) });
    expect(keys(back.data!.importOpenApi.updated)).toEqual(['delete_tree', 'list_trees']);
    expect((await actionsOf(appId)).every((a) => a.deprecatedAt === null)).toBe(true);
  });

  it('fetches a YAML document from a URL through the gate, and refuses what the gate refuses', async () => {
    const r = await importDoc({ u: `${docs.url}/trees.yaml`, o: { appKey: 'trees-from-url' } });
    expect(r.errors).toBeUndefined();
    expect(r.data!.importOpenApi).toMatchObject({ appKey: 'trees-from-url', appCreated: true });
    expect(docs.requests.at(-1)?.headers['user-agent']).toContain('OpenAPI import');

    const missing = await importDoc({ u: `${docs.url}/nope.json`, o: { appKey: 'nope' } });
    expect(missing.errors?.[0]?.extensions).toMatchObject({ code: 'E_OPENAPI_FETCH_FAILED' });
    const metadata = await importDoc({ u: 'http://169.254.169.254/openapi.json' });
    expect(metadata.errors?.[0]?.extensions?.code).toBe('E_GATE_BLOCKED');
  });

  it('refuses a bad document, both or neither source, viewers and built-in apps', async () => {
    const bad = await importDoc({ d: '{"openapi": "3.0.0", "paths": 3}' });
    expect(bad.errors?.[0]?.extensions).toMatchObject({
      code: 'E_OPENAPI_INVALID',
      field: 'document',
    });
    const both = await importDoc({ d: '{}', u: 'https://example.com/x' });
    expect(both.errors?.[0]?.extensions?.code).toBe('E_VALIDATION');
    const denied = await importDoc({ d: JSON.stringify(petsSwagger2) }, viewer);
    expect(denied.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    const builtin = await importDoc({ d: JSON.stringify(petsSwagger2), o: { appKey: 'http' } });
    expect(builtin.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    const pets = await importDoc({ d: JSON.stringify(petsSwagger2) });
    expect(pets.data!.importOpenApi).toMatchObject({
      format: 'swagger 2.0',
      authKind: 'oauth2_authorization_code',
    });
  });
});
