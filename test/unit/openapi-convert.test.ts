import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { planImport } from '../../src/catalog/openapi/convert.ts';
import { readAndPlan } from '../../src/catalog/openapi/parse.ts';
import { IN_PROCESS_MAX_CHARS, planOpenApiImport } from '../../src/catalog/openapi/run.ts';
import { MAX_REF_DEPTH } from '../../src/catalog/openapi/schema.ts';
import { notesApi30, petsSwagger2, treeApi31 } from '../support/openapi-fixtures.ts';

const byKey = (plan: ReturnType<typeof planImport>, key: string) => {
  const a = plan.actions.find((x) => x.key === key);
  if (!a) throw new Error(`no action ${key} in ${plan.actions.map((x) => x.key).join(', ')}`);
  return a;
};

describe('planning an OpenAPI import', () => {
  it('turns each operation of a 3.1 document into an action with grouped input', () => {
    const plan = planImport(treeApi31(), {});
    expect(plan.app).toMatchObject({
      key: 'tree-service',
      name: 'Tree Service',
      baseUrl: 'https://eu.trees.example.com/v1',
      authKind: 'api_key',
      authConfig: { in: 'header', name: 'X-Api-Key' },
    });
    expect(plan.actions.map((a) => a.key)).toEqual([
      'list_trees',
      'create_tree',
      'get_tree',
      'delete_tree',
    ]);
    const list = byKey(plan, 'list_trees');
    expect(list.name).toBe('List trees');
    expect(list.implementation).toEqual({
      method: 'GET',
      path: '/trees',
      query: '{{ input.query }}',
      headers: '{{ input.headers }}',
    });
    expect(list.inputSchema.properties).toMatchObject({
      query: {
        type: 'object',
        default: {},
        properties: { limit: { type: 'integer', minimum: 1, description: '(Default: 20.)' } },
      },
      headers: { default: {}, properties: { 'X-Request-Id': { type: 'string' } } },
    });
    const get = byKey(plan, 'get_tree');
    expect(get.implementation.path).toBe('/trees/{{ input.path.treeId }}');
    expect(get.inputSchema.required).toEqual(['path']);
    const create = byKey(plan, 'create_tree');
    expect(create.implementation).toMatchObject({ body: '{{ input.body }}', bodyType: 'json' });
    expect(create.inputSchema.required).toEqual(['body']);
  });

  it('expands a circular $ref to a bounded depth, and the result compiles and validates', () => {
    const plan = planImport(treeApi31(), {});
    const out = byKey(plan, 'create_tree').outputSchema as Record<string, unknown>;
    // Node → children → Node … cut after MAX_REF_DEPTH expansions of the same chain.
    let depth = 0;
    let s: Record<string, unknown> | undefined = out;
    while (s && (s.properties as Record<string, unknown> | undefined)?.children) {
      depth += 1;
      s = ((s.properties as Record<string, Record<string, unknown>>).children!.items ??
        undefined) as Record<string, unknown> | undefined;
    }
    expect(depth).toBeLessThanOrEqual(MAX_REF_DEPTH);
    expect(JSON.stringify(s)).toContain('not expanded');
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(out);
    expect(validate({ name: 'a', children: [{ name: 'b', children: [{ name: 'c' }] }] })).toBe(
      true,
    );
    expect(validate({ name: 7 })).toBe(false);
    // Outputs do not require documented fields (APIs drift); inputs do.
    expect(validate({})).toBe(true);
    const input = ajv.compile(byKey(plan, 'create_tree').inputSchema);
    expect(input({ body: {} })).toBe(false);
    expect(input({ body: { name: 'x' } })).toBe(true);
  });

  it('lets the caller choose the server, its variables, or a base URL', () => {
    expect(planImport(treeApi31(), { serverVariables: { region: 'us' } }).app.baseUrl).toBe(
      'https://us.trees.example.com/v1',
    );
    expect(planImport(treeApi31(), { serverIndex: 1 }).app.baseUrl).toBe(
      'https://sandbox.trees.example.com/v1',
    );
    const odd = planImport(treeApi31(), { serverVariables: { region: 'mars' } });
    expect(odd.warnings.join()).toContain('not one of eu, us');
    expect(planImport(treeApi31(), { baseUrl: 'http://127.0.0.1:9' }).app.baseUrl).toBe(
      'http://127.0.0.1:9',
    );
    expect(planImport(treeApi31(), {}).servers[0]!.variables).toEqual([
      { name: 'region', default: 'eu', enum: ['eu', 'us'] },
    ]);
  });

  it('reads OpenAPI 3.0: nullable, exclusive bounds, JSON variants and oauth2 flows', () => {
    const plan = planImport(notesApi30, {});
    expect(plan.app).toMatchObject({
      authKind: 'oauth2_authorization_code',
      authConfig: {
        authorizeUrl: 'https://notes.example.com/oauth/authorize',
        // Relative token URL resolved against the server.
        tokenUrl: 'https://notes.example.com/oauth/token',
        scopes: ['notes:write'],
      },
    });
    const update = byKey(plan, 'update_note');
    const body = (update.inputSchema.properties as Record<string, Record<string, unknown>>).body!;
    // Optional body: null (no body) by default.
    expect(body.default).toBeNull();
    const ajv = new Ajv2020({ strict: false, useDefaults: true });
    const validate = ajv.compile(update.inputSchema);
    const input: Record<string, unknown> = { path: { id: 3 }, body: { text: null } };
    expect(validate(input)).toBe(true);
    // The media type is sent as the spec names it.
    expect(input.headers).toEqual({ 'content-type': 'application/merge-patch+json' });
    expect(validate({ path: { id: 3 }, body: { score: 0 } })).toBe(false);
    expect(validate({ path: { id: 3 }, body: { score: 0.5 } })).toBe(true);

    expect(planImport(notesApi30, { securityScheme: 'machine' }).app).toMatchObject({
      authKind: 'oauth2_client_credentials',
      authConfig: { tokenUrl: 'https://notes.example.com/oauth/token', scope: 'notes:read' },
    });
    expect(planImport(notesApi30, { securityScheme: 'token' }).app.authKind).toBe('bearer');
    expect(planImport(notesApi30, { securityScheme: 'session' }).app).toMatchObject({
      authKind: 'api_key',
      authConfig: { in: 'header', name: 'Cookie' },
    });
    expect(plan.securitySchemes.map((s) => `${s.name}:${s.type}`)).toEqual([
      'oauth:oauth2 (authorizationCode, clientCredentials)',
      'machine:oauth2 (clientCredentials)',
      'token:http bearer',
      'session:apiKey in cookie',
    ]);
  });

  it('reads Swagger 2.0: host and schemes, body and formData parameters, accessCode', () => {
    const plan = planImport(petsSwagger2, {});
    expect(plan.app).toMatchObject({
      baseUrl: 'https://pets.example.com/v2',
      authKind: 'oauth2_authorization_code',
      authConfig: { scopes: ['write:pets'] },
    });
    expect(plan.servers.map((s) => s.url)).toEqual([
      'https://pets.example.com/v2',
      'http://pets.example.com/v2',
    ]);
    const add = byKey(plan, 'add_pet');
    expect(add.implementation).toMatchObject({ method: 'POST', path: '/pets', bodyType: 'json' });
    const ajv = new Ajv2020({ strict: false });
    expect(ajv.compile(add.inputSchema)({ body: { name: null, owner: { pets: [] } } })).toBe(true);
    const rename = byKey(plan, 'rename_pet');
    // No summary: the name falls back to the operationId.
    expect(rename.name).toBe('renamePet');
    expect(rename.implementation).toMatchObject({
      path: '/pets/{{ input.path.petId }}/photo',
      bodyType: 'form',
      query: '{{ input.query }}',
    });
    expect(rename.inputSchema.required).toEqual(['path', 'body']);
    expect(planImport(petsSwagger2, { securityScheme: 'basic' }).app.authKind).toBe('basic');
  });

  it('makes keys from operationIds, unique, and from method and path without one', () => {
    const doc = treeApi31();
    const trees = doc.paths['/trees'] as Record<string, Record<string, unknown>>;
    trees.get!.operationId = 'issues/list-for-repo';
    delete trees.post!.operationId;
    doc.paths['/x'] = {
      get: { operationId: 'issues/list-for-repo', responses: { '200': { description: 'ok' } } },
    };
    const keys = planImport(doc, {}).actions.map((a) => a.key);
    expect(keys).toContain('issues.list-for-repo');
    expect(keys).toContain('issues.list-for-repo_2');
    expect(keys).toContain('post_trees');
  });

  it('refuses what is not an OpenAPI document, and reads YAML', async () => {
    expect(await readAndPlan('not: [openapi', {})).toMatchObject({
      error: expect.stringContaining('neither JSON nor YAML') as unknown,
    });
    expect(await readAndPlan('{"openapi": "4.0.0"}', {})).toMatchObject({
      error: expect.stringContaining('Not an OpenAPI document') as unknown,
    });
    const broken = { ...treeApi31(), paths: { '/a': { get: { responses: 'nope' } } } };
    expect(await readAndPlan(JSON.stringify(broken), {})).toMatchObject({
      error: expect.stringContaining('invalid') as unknown,
    });
    const yaml = `openapi: 3.0.0\ninfo: {title: Y, version: '1'}\npaths:\n  /ping:\n    get:\n      operationId: ping\n      responses: {'200': {description: ok}}\n`;
    const plan = await readAndPlan(yaml, {});
    expect('error' in plan ? plan.error : plan.operations.map((a) => a.key)).toEqual(['ping']);
  });
});

describe('reading a big document off the event loop', () => {
  it('plans documents over the in-process size in worker threads, a few at a time', async () => {
    const doc = treeApi31();
    const paths = doc.paths;
    for (let i = 0; i < 400; i++)
      paths[`/forest/${i}/{treeId}`] = {
        get: {
          operationId: `getForestTree${i}`,
          summary: `Get a tree of forest ${i} `.padEnd(400, '.'),
          parameters: [{ name: 'treeId', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { $ref: '#/components/responses/OneNode' } },
        },
      };
    const text = JSON.stringify(doc);
    expect(text.length).toBeGreaterThan(IN_PROCESS_MAX_CHARS);
    // Three at once: the third waits for a worker slot, and every one completes.
    const plans = await Promise.all([1, 2, 3].map(() => planOpenApiImport(text, {})));
    for (const plan of plans) expect(plan.operations).toHaveLength(404);
    await expect(planOpenApiImport(`${text.slice(0, -1)},"paths": 3}`, {})).rejects.toMatchObject({
      code: 'E_OPENAPI_INVALID',
    });
  }, 60_000);
});
