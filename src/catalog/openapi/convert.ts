/**
 * A parsed OpenAPI document (Swagger 2.0, OpenAPI 3.0, 3.1) as an import plan: the app (base
 * URL, auth) and one http action per operation, whose templates the runner's http actions
 * execute unchanged (runner/actions/http.ts). Pure: no I/O, so it runs in a worker thread.
 *
 * A step's input groups the request's parts: `{ path: {…}, query: {…}, headers: {…}, body }`,
 * so parameters of the same name in two places, or a parameter called `body`, never collide.
 */
import {
  importAuth,
  summarizeSchemes,
  type ImportedAuth,
  type SecuritySchemeSummary,
} from './auth.ts';
import { findSchemaProblem } from './check.ts';
import { createSchemaConverter, isObject, type SchemaConverter } from './schema.ts';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;
const KEY_MAX = 100;
const STANDARD_TYPES = ['application/json', 'application/x-www-form-urlencoded', 'text/plain'];

export type ImportOptions = {
  /** The app's key (default: from the document's title). */
  appKey?: string;
  /** The app's name (default: the document's title). */
  appName?: string;
  /** Which of `servers` (default 0), and values for its `{variables}` (default: theirs). */
  serverIndex?: number;
  serverVariables?: Record<string, string>;
  /** A base URL instead of the document's servers (e.g. a fake in tests, a region). */
  baseUrl?: string;
  /** The security scheme to use when the document defines several. */
  securityScheme?: string;
  /** Resolves relative server and token URLs when the document was fetched from a URL. */
  sourceUrl?: string;
  /** How many nested `$ref`s schemas expand (default MAX_REF_DEPTH; the catalogue uses 1). */
  maxRefDepth?: number;
  /** Only these operationIds (the built-in catalogue picks a few of a big document). */
  operationIds?: string[];
};

export type ServerChoice = {
  url: string;
  description: string | null;
  variables: Array<{ name: string; default: string; enum: string[] }>;
};

export type PlannedAction = {
  key: string;
  name: string;
  method: string;
  path: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown> | boolean;
  implementation: Record<string, unknown> & { method: string };
};

export type ImportPlan = {
  app: { key: string; name: string; baseUrl: string | null } & ImportedAuth;
  /**
   * The caller named the app or chose its server: a re-import applies them. Otherwise it keeps
   * the existing app's name and base URL (a builder may have pointed it at a sandbox).
   */
  explicit: { name: boolean; baseUrl: boolean };
  /** The document's version (info.version) and format (e.g. "openapi 3.1.0"). */
  version: string;
  format: string;
  servers: ServerChoice[];
  securitySchemes: SecuritySchemeSummary[];
  actions: PlannedAction[];
  warnings: string[];
};

/** An operation as the import reports it (the action it becomes, without its schemas). */
export type OperationSummary = { key: string; name: string; method: string; path: string };

/**
 * A plan ready to write: the actions as one JSON text (what PostgreSQL receives), the rest as
 * small objects. Built in the worker; see ImportedActionsJson in db/queries/actions.ts.
 */
export type PreparedPlan = Omit<ImportPlan, 'actions'> & {
  operations: OperationSummary[];
  actionsJson: string;
};

export function preparePlan(plan: ImportPlan): PreparedPlan {
  const { actions, ...rest } = plan;
  return {
    ...rest,
    operations: actions.map((a) => ({ key: a.key, name: a.name, method: a.method, path: a.path })),
    actionsJson: JSON.stringify(
      actions.map((a) => ({
        key: a.key,
        name: a.name,
        inputSchema: a.inputSchema,
        outputSchema: a.outputSchema,
        implementation: a.implementation,
      })),
    ),
  };
}

export function planImport(doc: Record<string, unknown>, options: ImportOptions): ImportPlan {
  const warnings: string[] = [];
  const warn = (m: string) => {
    if (warnings.length < 200) warnings.push(m);
  };
  const info = isObject(doc.info) ? doc.info : {};
  const title =
    typeof info.title === 'string' && info.title.trim() !== '' ? info.title.trim() : 'Imported API';
  const servers = serversOf(doc);
  const baseUrl = chooseBaseUrl(servers, options, warn);
  const auth = importAuth(doc, options.securityScheme, warn);
  resolveAuthUrls(auth, baseUrl ?? options.sourceUrl);
  const converter = createSchemaConverter(doc, options.maxRefDepth);
  const keys = new Set<string>();
  const actions: PlannedAction[] = [];
  const paths = isObject(doc.paths) ? doc.paths : {};
  for (const [path, rawItem] of Object.entries(paths)) {
    const item = converter.resolve(rawItem);
    if (!isObject(item)) continue;
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      if (options.operationIds && !options.operationIds.includes(String(op.operationId))) continue;
      const key = uniqueKey(operationKey(op, method, path), keys);
      try {
        const action = planAction({ doc, converter, path, method, item, op, key }, warn);
        const outputProblem = findSchemaProblem(action.outputSchema);
        if (outputProblem) {
          warn(`${key}: output schema not kept (${outputProblem}).`);
          action.outputSchema = {};
        }
        const inputProblem = findSchemaProblem(action.inputSchema);
        if (inputProblem) throw new Error(`input schema ${inputProblem}`);
        actions.push(action);
      } catch (err) {
        warn(`${method.toUpperCase()} ${path}: skipped (${(err as Error).message}).`);
        keys.delete(key);
      }
    }
  }
  return {
    app: {
      key: options.appKey ?? appKeyOf(title),
      name: options.appName ?? title,
      baseUrl,
      ...auth,
    },
    explicit: {
      name: options.appName !== undefined,
      baseUrl:
        options.baseUrl !== undefined ||
        options.serverIndex !== undefined ||
        options.serverVariables !== undefined,
    },
    version: typeof info.version === 'string' ? info.version : '',
    format:
      typeof doc.openapi === 'string' ? `openapi ${doc.openapi}` : `swagger ${String(doc.swagger)}`,
    servers,
    securitySchemes: summarizeSchemes(doc),
    actions,
    warnings,
  };
}

type OperationContext = {
  doc: Record<string, unknown>;
  converter: SchemaConverter;
  path: string;
  method: (typeof METHODS)[number];
  item: Record<string, unknown>;
  op: Record<string, unknown>;
  key: string;
};

type Group = { properties: Record<string, unknown>; required: string[] };

function planAction(c: OperationContext, warn: (m: string) => void): PlannedAction {
  const { converter, op } = c;
  const groups: Record<'path' | 'query' | 'headers', Group> = {
    path: { properties: {}, required: [] },
    query: { properties: {}, required: [] },
    headers: { properties: {}, required: [] },
  };
  let bodySchema: unknown = undefined;
  let bodyRequired = false;
  let bodyType: 'json' | 'form' | 'text' = 'json';
  let bodyContentType: string | null = null;
  // Operation parameters override path-item ones with the same name and location.
  const params = new Map<string, Record<string, unknown>>();
  for (const raw of [...asList(c.item.parameters), ...asList(op.parameters)]) {
    const p = converter.resolve(raw);
    if (isObject(p) && typeof p.name === 'string') params.set(`${String(p.in)}:${p.name}`, p);
  }
  const formFields: Group = { properties: {}, required: [] };
  for (const p of params.values()) {
    const name = p.name as string;
    const schema = paramSchema(converter, p);
    if (p.in === 'body') {
      bodySchema = p.schema;
      bodyRequired = p.required === true;
      continue;
    }
    if (p.in === 'formData') {
      formFields.properties[name] = schema;
      if (p.required === true) formFields.required.push(name);
      continue;
    }
    const group =
      p.in === 'path'
        ? groups.path
        : p.in === 'query'
          ? groups.query
          : p.in === 'header'
            ? groups.headers
            : null;
    if (!group) {
      warn(
        `${c.key}: ${String(p.in)} parameter "${name}" is not sent (only path, query and header).`,
      );
      continue;
    }
    group.properties[name] = schema;
    if (p.required === true || p.in === 'path') group.required.push(name);
  }
  const requestBody = converter.resolve(op.requestBody);
  if (isObject(requestBody) && isObject(requestBody.content)) {
    const chosen = chooseContent(requestBody.content);
    if (chosen) {
      bodySchema = chosen.schema;
      bodyRequired = requestBody.required === true;
      bodyType = chosen.bodyType;
      bodyContentType = chosen.contentType;
    } else {
      warn(
        `${c.key}: request body of type ${Object.keys(requestBody.content).join(', ')} is not supported; the action sends none.`,
      );
    }
  }
  if (bodySchema === undefined && Object.keys(formFields.properties).length > 0) {
    bodySchema = {
      type: 'object',
      properties: formFields.properties,
      required: formFields.required,
    };
    bodyRequired = formFields.required.length > 0;
    bodyType = 'form';
    bodyContentType = 'application/x-www-form-urlencoded';
  }
  const implementation: PlannedAction['implementation'] = {
    method: c.method.toUpperCase(),
    path: pathTemplate(c.path, Object.keys(groups.path.properties)),
  };
  let body: unknown = undefined;
  if (bodySchema !== undefined) {
    const schema = converter.convert(bodySchema, 'input');
    // Absent means no body: null is the default the runner's encoder skips.
    body = bodyRequired ? schema : { anyOf: [schema, { type: 'null' }], default: null };
    implementation.body = '{{ input.body }}';
    implementation.bodyType = bodyType;
    // A JSON variant (application/merge-patch+json…): the runner would say application/json.
    if (bodyContentType && !STANDARD_TYPES.includes(bodyContentType))
      groups.headers.properties['content-type'] = {
        const: bodyContentType,
        default: bodyContentType,
      };
  }
  const inputProps: Record<string, unknown> = {};
  const inputRequired: string[] = [];
  for (const [name, g] of Object.entries(groups)) {
    if (Object.keys(g.properties).length === 0) continue;
    inputProps[name] = {
      type: 'object',
      properties: g.properties,
      ...(g.required.length > 0 ? { required: g.required } : {}),
    };
    if (g.required.length > 0) inputRequired.push(name);
    // Optional groups default to {} so that `{{ input.query }}` always resolves.
    else (inputProps[name] as Record<string, unknown>).default = {};
    if (name !== 'path') implementation[name] = `{{ input.${name} }}`;
  }
  if (body !== undefined) {
    inputProps.body = body;
    if (bodyRequired) inputRequired.push('body');
  }
  return {
    key: c.key,
    name: operationName(op, c.method, c.path),
    method: c.method.toUpperCase(),
    path: c.path,
    inputSchema: {
      type: 'object',
      ...(typeof op.description === 'string' ? { description: op.description.slice(0, 2000) } : {}),
      properties: inputProps,
      ...(inputRequired.length > 0 ? { required: inputRequired } : {}),
      additionalProperties: false,
    },
    outputSchema: outputSchema(converter, op),
    implementation,
  };
}

function paramSchema(converter: SchemaConverter, p: Record<string, unknown>): unknown {
  // 3.x: schema (or content); 2.0: the type keywords sit on the parameter itself.
  let raw: unknown = p.schema;
  if (raw === undefined && isObject(p.content))
    raw = Object.values(p.content).find(isObject)?.schema;
  if (raw === undefined) {
    const { name: _n, in: _i, required: _r, description: _d, ...rest } = p;
    raw = rest;
  }
  const schema = converter.convert(raw, 'input');
  if (typeof schema === 'boolean' || typeof p.description !== 'string') return schema;
  return { description: p.description.slice(0, 1000), ...schema };
}

function chooseContent(
  content: Record<string, unknown>,
): { schema: unknown; bodyType: 'json' | 'form' | 'text'; contentType: string } | undefined {
  const types = Object.keys(content);
  const json =
    types.find((t) => /^application\/(.+\+)?json\b/i.test(t)) ?? types.find((t) => /json/i.test(t));
  const pick = (t: string, bodyType: 'json' | 'form' | 'text') => {
    const media = content[t];
    return {
      schema: isObject(media) ? (media.schema ?? {}) : {},
      bodyType,
      contentType: t.split(';')[0]!.trim().toLowerCase(),
    };
  };
  if (json) return pick(json, 'json');
  const form = types.find((t) => /^application\/x-www-form-urlencoded/i.test(t));
  if (form) return pick(form, 'form');
  const text = types.find((t) => /^text\//i.test(t));
  if (text) return pick(text, 'text');
  return undefined;
}

function outputSchema(
  converter: SchemaConverter,
  op: Record<string, unknown>,
): Record<string, unknown> | boolean {
  const responses = isObject(op.responses) ? op.responses : {};
  const code = Object.keys(responses)
    .filter((k) => /^2(\d\d|XX)$/i.test(k))
    .sort()[0];
  if (code === undefined) return {};
  const res = converter.resolve(responses[code]);
  if (!isObject(res)) return {};
  // 2.0: schema on the response; 3.x: per media type.
  if (res.schema !== undefined) return converter.convert(res.schema, 'output');
  if (!isObject(res.content)) return {};
  const chosen = chooseContent(res.content);
  if (!chosen || chosen.bodyType !== 'json') return {};
  return converter.convert(chosen.schema, 'output');
}

/** `/repos/{owner}/{repo}` → `/repos/{{ input.path.owner }}/{{ input.path.repo }}`. */
function pathTemplate(path: string, names: string[]): string {
  return path.replace(/\{([^{}]+)\}/g, (whole, name: string) =>
    names.includes(name) ? `{{ ${reference('input.path', name)} }}` : whole,
  );
}

function reference(base: string, name: string): string {
  return /^[A-Za-z_$][\w$-]*$/.test(name) ? `${base}.${name}` : `${base}[${JSON.stringify(name)}]`;
}

function operationKey(op: Record<string, unknown>, method: string, path: string): string {
  if (typeof op.operationId === 'string' && op.operationId.trim() !== '')
    return toKey(op.operationId);
  // `POST /trees/{id}` → post_trees_id
  return toKey(`${method}_${path.replace(/[{}]/g, '').replace(/\//g, '_')}`);
}

/** `issues/create` → `issues.create`; `createIssue` → `create_issue`; `GET /a/{b}` → `get_a_b`. */
export function toKey(raw: string): string {
  let k = raw
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/\//g, '.')
    .replace(/[^a-z0-9_.-]+/g, '_')
    .replace(/_{2,}/g, '_')
    .replace(/^[^a-z]+/, '')
    .replace(/[_.-]+$/, '');
  if (k === '') k = 'op';
  return k.slice(0, KEY_MAX);
}

/** "GitHub's REST API" → "githubs-rest-api". */
function appKeyOf(title: string): string {
  const k = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, (m) => (m.includes(' ') || m.length > 1 ? '-' : ''))
    .replace(/^[^a-z]+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
  return k === '' ? 'imported-api' : k;
}

function uniqueKey(key: string, taken: Set<string>): string {
  let k = key;
  for (let n = 2; taken.has(k); n++) k = `${key.slice(0, KEY_MAX - String(n).length - 1)}_${n}`;
  taken.add(k);
  return k;
}

function operationName(op: Record<string, unknown>, method: string, path: string): string {
  const s =
    typeof op.summary === 'string' && op.summary.trim() !== '' ? op.summary : op.operationId;
  return (
    typeof s === 'string' && s.trim() !== '' ? s.trim() : `${method.toUpperCase()} ${path}`
  ).slice(0, 200);
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function serversOf(doc: Record<string, unknown>): ServerChoice[] {
  if (Array.isArray(doc.servers))
    return doc.servers.filter(isObject).map((s) => ({
      url: typeof s.url === 'string' ? s.url : '/',
      description: typeof s.description === 'string' ? s.description : null,
      variables: Object.entries(isObject(s.variables) ? s.variables : {}).map(([name, v]) => ({
        name,
        default: isObject(v) && typeof v.default === 'string' ? v.default : '',
        enum: isObject(v) && Array.isArray(v.enum) ? v.enum.map(String) : [],
      })),
    }));
  if (typeof doc.host === 'string' || typeof doc.basePath === 'string') {
    // Swagger 2.0: one server per scheme, https first.
    const schemes = Array.isArray(doc.schemes) ? doc.schemes.map(String) : ['https'];
    schemes.sort((a, b) => (a === 'https' ? -1 : b === 'https' ? 1 : 0));
    const host = typeof doc.host === 'string' ? doc.host : '';
    const basePath = typeof doc.basePath === 'string' ? doc.basePath : '';
    return schemes.map((scheme) => ({
      url: host ? `${scheme}://${host}${basePath}` : basePath || '/',
      description: null,
      variables: [],
    }));
  }
  return [];
}

function chooseBaseUrl(
  servers: ServerChoice[],
  o: ImportOptions,
  warn: (m: string) => void,
): string | null {
  if (o.baseUrl !== undefined) return o.baseUrl;
  const server = servers[o.serverIndex ?? 0];
  if (!server) {
    if (o.serverIndex !== undefined) warn(`There is no server number ${o.serverIndex}.`);
    return o.sourceUrl ? new URL('/', o.sourceUrl).toString().replace(/\/$/, '') : null;
  }
  let url = server.url;
  for (const v of server.variables) {
    const value = o.serverVariables?.[v.name] ?? v.default;
    if (v.enum.length > 0 && !v.enum.includes(value))
      warn(`Server variable ${v.name}=${value} is not one of ${v.enum.join(', ')}.`);
    url = url.replaceAll(`{${v.name}}`, value);
  }
  if (!/^https?:\/\//i.test(url)) {
    if (o.sourceUrl) return new URL(url, o.sourceUrl).toString().replace(/\/$/, '');
    warn(`The server URL ${url} is relative: set the app's base URL.`);
    return null;
  }
  return url.replace(/\/$/, '');
}

function resolveAuthUrls(auth: ImportedAuth, base: string | null | undefined): void {
  for (const field of ['authorizeUrl', 'tokenUrl']) {
    const v = auth.authConfig[field];
    if (typeof v === 'string' && !/^https?:\/\//i.test(v) && base)
      auth.authConfig[field] = new URL(v, base).toString();
  }
}
