/**
 * The real fixture: GitHub's REST description (@octokit/openapi, about 1,200 operations,
 * 13 MB, circular $refs) imports completely through importOpenApi (fetched by URL through the
 * gate, read in a worker thread), and its "create an issue" action, run by the runner against
 * a local fake of that endpoint, sends the request the description specifies: the fake checks
 * it against the same document with ajv.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionId, AppId } from '../../src/model/ids.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { addConnection, makeHarness, makeRequest, never } from '../support/runner-harness.ts';
import { nullableOneOf } from '../support/openapi-validate.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';

const require = createRequire(import.meta.url);
const specPath = require.resolve('@octokit/openapi/generated/api.github.com.json');
const specText = readFileSync(specPath, 'utf8');
type Spec = {
  paths: Record<string, Record<string, { operationId?: string; requestBody?: unknown }>>;
  components: { parameters: Record<string, { schema: unknown }> };
};
const spec = JSON.parse(specText) as Spec;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'];
const operationCount = Object.values(spec.paths).reduce(
  (n, item) => n + Object.keys(item).filter((m) => METHODS.includes(m)).length,
  0,
);

let db: TestDatabase;
let api: TestApi;
let docs: LocalServer;
let fake: LocalServer;
let owner: string;
const problems: string[] = [];

// The operation as the document describes it, checked by ajv (see nullableOneOf).
const create = spec.paths['/repos/{owner}/{repo}/issues']!.post as {
  requestBody: { content: { 'application/json': { schema: object } } };
};
const ajv = new Ajv({ strict: false, allErrors: true });
const validBody = ajv.compile(
  nullableOneOf(create.requestBody.content['application/json'].schema) as object,
);
const validOwner = ajv.compile(spec.components.parameters.owner!.schema as object);
const validRepo = ajv.compile(spec.components.parameters.repo!.schema as object);

beforeAll(async () => {
  db = await createTestDatabase();
  docs = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(specText);
  });
  fake = await startServer((req, res) => {
    const m = /^\/repos\/([^/?]+)\/([^/?]+)\/issues$/.exec(req.url);
    if (req.method !== 'POST' || !m) problems.push(`unexpected ${req.method} ${req.url}`);
    else {
      if (!validOwner(decodeURIComponent(m[1]!))) problems.push('owner');
      if (!validRepo(decodeURIComponent(m[2]!))) problems.push('repo');
    }
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
      problems.push(`content-type ${req.headers['content-type']}`);
    if (req.headers.authorization !== 'Bearer ghp_test') problems.push('authorization');
    let body: unknown;
    try {
      body = JSON.parse(req.body);
    } catch {
      problems.push('body is not JSON');
    }
    if (!validBody(body)) problems.push(`body: ${ajv.errorsText(validBody.errors)}`);
    sendJson(res, problems.length === 0 ? 201 : 422, {
      id: 1,
      number: 42,
      title: (body as { title?: unknown }).title,
      state: 'open',
      labels: [{ id: 7, name: 'bug', color: 'f00' }],
      html_url: 'https://github.com/octo/hello/issues/42',
      user: null,
      problems,
    });
  });
  api = await startTestApi(db, { GATE_ALLOW_HTTP_HOSTS: `${docs.hostPort},${fake.hostPort}` });
  owner = (await makeTenant(db.pool, 'GitHub importer')).apiToken;
}, 60_000);
afterAll(async () => {
  await api?.close();
  await docs?.close();
  await fake?.close();
  await db?.drop();
});

describe("GitHub's REST description", () => {
  it('imports completely, then "create an issue" sends the request the document specifies', async () => {
    expect(operationCount).toBeGreaterThan(1000);
    const started = performance.now();
    const r = await api.gql<{
      importOpenApi: {
        app: { id: string };
        created: Array<{ key: string }>;
        warnings: string[];
        baseUrl: string;
      };
    }>(
      `mutation($u: String!, $o: OpenApiImportOptions) { importOpenApi(url: $u, options: $o) {
         app { id } baseUrl created { key } warnings } }`,
      { u: `${docs.url}/api.github.com.json`, o: { appKey: 'github-rest', baseUrl: fake.url } },
      { token: owner },
    );
    expect(r.errors).toBeUndefined();
    const res = r.data!.importOpenApi;
    expect(res.created).toHaveLength(operationCount);
    expect(res.warnings.filter((w) => w.includes('skipped'))).toEqual([]);
    expect(performance.now() - started).toBeLessThan(60_000);

    const action = await api.gql<{
      app: {
        actions: Array<{
          id: string;
          key: string;
          inputSchema: unknown;
          outputSchema: unknown;
          implementation: unknown;
        }>;
      };
    }>(
      `query($a: ID!) { app(id: $a) { actions { id key inputSchema outputSchema implementation } } }`,
      { a: res.app.id },
      { token: owner },
    );
    const issue = action.data!.app.actions.find((a) => a.key === 'issues.create')!;
    expect(issue.implementation).toEqual({
      method: 'POST',
      path: '/repos/{{ input.path.owner }}/{{ input.path.repo }}/issues',
      body: '{{ input.body }}',
      bodyType: 'json',
    });

    const h = makeHarness({ allow: [fake.hostPort] });
    const connectionId = addConnection(h, { authKind: 'bearer', secret: { token: 'ghp_test' } });
    const result = await h.runner.execute(
      makeRequest({
        action: {
          id: issue.id as ActionId,
          appId: res.app.id as AppId,
          key: issue.key,
          kind: 'http',
          inputSchema: issue.inputSchema,
          outputSchema: issue.outputSchema,
          implementation: issue.implementation,
          baseUrl: fake.url,
        },
        step: {
          connectionId,
          input: {
            path: { owner: 'octo', repo: 'hello' },
            body: { title: 'Found a bug', body: 'It breaks.', labels: ['bug'], milestone: null },
          },
        },
      }),
      never,
    );
    expect(problems).toEqual([]);
    expect(result).toMatchObject({ status: 'succeeded', output: { number: 42 } });
    expect(fake.requests).toHaveLength(1);
    expect(JSON.parse(fake.requests[0]!.body)).toEqual({
      title: 'Found a bug',
      body: 'It breaks.',
      labels: ['bug'],
      milestone: null,
    });

    // A body the document forbids is refused before anything is sent.
    const refused = await h.runner.execute(
      makeRequest({
        action: {
          kind: 'http',
          inputSchema: issue.inputSchema,
          implementation: issue.implementation,
          baseUrl: fake.url,
        },
        step: { connectionId, input: { path: { owner: 'octo', repo: 'hello' }, body: {} } },
      }),
      never,
    );
    expect(refused).toMatchObject({ status: 'failed', error: { code: 'E_STEP_INPUT_INVALID' } });
    expect(fake.requests).toHaveLength(1);
  }, 120_000);
});
