/** Apps and actions as builders define them: validated before they are stored. */
import type { Queryable } from '../db/pool.ts';
import {
  deleteApp,
  insertApp,
  selectApp,
  updateApp,
  type AppInput,
  type AppRow,
} from '../db/queries/apps.ts';
import {
  deleteAction,
  insertAction,
  selectActionsByIds,
  updateAction,
  type ActionInput,
  type ActionRow,
} from '../db/queries/actions.ts';
import { isSwitchyardError, SwitchyardError } from '../model/errors.ts';
import type { ActionId, AppId, TenantId } from '../model/ids.ts';
import { conflictAsError } from './conflicts.ts';
import { assertJsonSchema } from '../model/json-schema.ts';
import { readOAuthAppConfig } from '../model/oauth.ts';
import { ANY_REFERENCE, checkTemplate } from '../model/mapping-syntax.ts';

const authKinds = [
  'none',
  'api_key',
  'bearer',
  'basic',
  'oauth2_client_credentials',
  'oauth2_authorization_code',
];
const keyPattern = /^[a-z][a-z0-9_.-]{0,99}$/;

export function validateAppInput(p: AppInput): AppInput {
  if (!keyPattern.test(p.key))
    throw new SwitchyardError(
      'E_VALIDATION',
      'key must be lower-case letters, digits, _ . or -, starting with a letter.',
      { field: 'key' },
    );
  if (p.name.trim().length === 0)
    throw new SwitchyardError('E_VALIDATION', 'name must not be empty.', { field: 'name' });
  if (!authKinds.includes(p.authKind))
    throw new SwitchyardError('E_VALIDATION', `authKind must be one of ${authKinds.join(', ')}.`, {
      field: 'authKind',
    });
  if (p.baseUrl !== null) {
    let url: URL;
    try {
      url = new URL(p.baseUrl);
    } catch {
      throw new SwitchyardError(
        'E_VALIDATION',
        'baseUrl must be an absolute URL, e.g. https://api.example.com/v1.',
        { field: 'baseUrl' },
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new SwitchyardError(
        'E_VALIDATION',
        'baseUrl must use https (http only for hosts on the operator allow-list).',
        { field: 'baseUrl' },
      );
    }
  }
  if (p.authKind === 'api_key') {
    const where = p.authConfig.in;
    if ((where !== 'header' && where !== 'query') || typeof p.authConfig.name !== 'string') {
      throw new SwitchyardError(
        'E_VALIDATION',
        'api_key apps need authConfig {"in": "header" | "query", "name": "…"}.',
        { field: 'authConfig' },
      );
    }
  }
  if (p.authKind === 'oauth2_client_credentials' && typeof p.authConfig.tokenUrl !== 'string') {
    throw new SwitchyardError(
      'E_VALIDATION',
      'oauth2_client_credentials apps need authConfig {"tokenUrl": "https://…"}.',
      { field: 'authConfig' },
    );
  }
  if (p.authKind === 'oauth2_authorization_code') {
    const read = readOAuthAppConfig(p.authConfig);
    if (typeof read === 'string')
      throw new SwitchyardError(
        'E_VALIDATION',
        `oauth2_authorization_code apps need authConfig {"authorizeUrl", "tokenUrl", "scopes"?, "clientAuth"?, "authorizeParams"?}: ${read}.`,
        { field: 'authConfig' },
      );
  }
  assertJsonSchema(p.connectionSchema, 'connectionSchema');
  return { ...p, name: p.name.trim() };
}

export async function createApp(
  db: Queryable,
  tenantId: TenantId,
  input: AppInput,
): Promise<AppRow> {
  const valid = validateAppInput(input);
  return conflictAsError('app', () => insertApp(db, { ...valid, tenantId, isBuiltin: false }));
}

export async function changeApp(db: Queryable, id: AppId, input: AppInput): Promise<AppRow> {
  await assertEditableApp(db, id);
  const valid = validateAppInput(input);
  const row = await conflictAsError('app', () => updateApp(db, { ...valid, id }));
  if (!row) throw new SwitchyardError('E_NOT_FOUND', 'No such app.');
  return row;
}

export async function removeApp(db: Queryable, id: AppId): Promise<void> {
  await assertEditableApp(db, id);
  try {
    if (!(await deleteApp(db, { id }))) throw new SwitchyardError('E_NOT_FOUND', 'No such app.');
  } catch (err) {
    if ((err as { code?: string }).code === '23503') {
      throw new SwitchyardError('E_CONFLICT', 'Connections still use this app: delete them first.');
    }
    throw err;
  }
}

async function assertEditableApp(db: Queryable, id: AppId): Promise<AppRow> {
  const app = await selectApp(db, { id });
  if (!app) throw new SwitchyardError('E_NOT_FOUND', 'No such app.');
  if (app.isBuiltin)
    throw new SwitchyardError('E_FORBIDDEN', 'Built-in apps and their actions cannot be changed.');
  return app;
}

const retryStrategies = ['none', 'fixed', 'exponential'];
const kinds = ['http', 'javascript', 'python'];

export function validateActionInput(p: ActionInput): ActionInput {
  if (!keyPattern.test(p.key))
    throw new SwitchyardError(
      'E_VALIDATION',
      'key must be lower-case letters, digits, _ . or -, starting with a letter.',
      { field: 'key' },
    );
  if (!kinds.includes(p.kind))
    throw new SwitchyardError('E_VALIDATION', `kind must be one of ${kinds.join(', ')}.`, {
      field: 'kind',
    });
  if (!retryStrategies.includes(p.retryStrategy)) {
    throw new SwitchyardError(
      'E_VALIDATION',
      `retryStrategy must be one of ${retryStrategies.join(', ')}.`,
      { field: 'retryStrategy' },
    );
  }
  const bounds: Array<[keyof ActionInput, number, number]> = [
    ['maxAttempts', 1, 100],
    ['initialDelayMs', 0, 86_400_000],
    ['maxDelayMs', 0, 86_400_000],
    ['timeoutMs', 1, 3_600_000],
  ];
  for (const [field, min, max] of bounds) {
    const v = p[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new SwitchyardError(
        'E_VALIDATION',
        `${field} must be a whole number from ${min} to ${max}.`,
        { field },
      );
    }
  }
  if (p.maxDelayMs < p.initialDelayMs)
    throw new SwitchyardError('E_VALIDATION', 'maxDelayMs must be at least initialDelayMs.', {
      field: 'maxDelayMs',
    });
  if ((p.rateLimitRequests === null) !== (p.rateLimitPerSeconds === null)) {
    throw new SwitchyardError(
      'E_VALIDATION',
      'Set both rateLimitRequests and rateLimitPerSeconds, or neither.',
      { field: 'rateLimitRequests' },
    );
  }
  if ((p.rateLimitRequests ?? 1) < 1 || (p.rateLimitPerSeconds ?? 1) < 1) {
    throw new SwitchyardError('E_VALIDATION', 'Rate limits must be positive.', {
      field: 'rateLimitRequests',
    });
  }
  assertJsonSchema(p.inputSchema, 'inputSchema');
  assertJsonSchema(p.outputSchema, 'outputSchema');
  assertImplementation(p.kind, p.implementation);
  return p;
}

function assertImplementation(kind: string, impl: unknown): void {
  const o =
    typeof impl === 'object' && impl !== null && !Array.isArray(impl)
      ? (impl as Record<string, unknown>)
      : null;
  if (!o)
    throw new SwitchyardError('E_VALIDATION', 'implementation must be an object.', {
      field: 'implementation',
    });
  if (kind === 'http') {
    if (
      typeof o.method !== 'string' ||
      (typeof o.path !== 'string' &&
        typeof o.url !== 'string' &&
        typeof o.urlFromSecret !== 'string')
    ) {
      throw new SwitchyardError(
        'E_VALIDATION',
        'http implementations need "method" and "path" (or "url", or "urlFromSecret").',
        { field: 'implementation' },
      );
    }
    assertHttpImplementation(o);
  } else if (typeof o.code !== 'string' && o.codeFromInput !== true) {
    throw new SwitchyardError('E_VALIDATION', `${kind} implementations need "code".`, {
      field: 'implementation',
    });
  }
}

const httpMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
/** What an http implementation's templates may reference (runner/actions/http.ts). */
const httpRoots = ['input', 'connection', 'run'];
const httpFields = [
  'method',
  'path',
  'url',
  'query',
  'headers',
  'body',
  'bodyType',
  'output',
  'signing',
  'urlFromSecret',
];
const httpChoices: Record<string, string[]> = {
  bodyType: ['json', 'text', 'form'],
  output: ['body', 'response'],
  signing: ['standard-webhooks'],
};

/** What the runner would refuse on every run: a bad method, template, URL or option. */
function assertHttpImplementation(o: Record<string, unknown>): void {
  const fail = (field: string, message: string) =>
    new SwitchyardError('E_VALIDATION', message, { field: `implementation.${field}` });
  for (const key of Object.keys(o))
    if (!httpFields.includes(key))
      throw fail(
        key,
        `implementation.${key} is not an http implementation field (${httpFields.join(', ')}).`,
      );
  for (const [field, choices] of Object.entries(httpChoices))
    if (o[field] !== undefined && !choices.includes(o[field] as string))
      throw fail(field, `implementation.${field} must be one of ${choices.join(', ')}.`);
  for (const field of ['method', 'path', 'url', 'query', 'headers', 'body']) {
    try {
      checkTemplate(o[field], `implementation.${field}`, httpRoots);
    } catch (err) {
      if (isSwitchyardError(err, 'E_MAPPING_INVALID'))
        throw new SwitchyardError('E_VALIDATION', err.message, {
          field:
            typeof err.details.field === 'string' ? err.details.field : `implementation.${field}`,
        });
      throw err;
    }
  }
  if (
    o.urlFromSecret !== undefined &&
    (typeof o.urlFromSecret !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(o.urlFromSecret))
  )
    throw fail(
      'urlFromSecret',
      'implementation.urlFromSecret must name a secret field of the connection, e.g. "webhookUrl".',
    );
  const method = o.method as string;
  if (!method.includes('{{') && !httpMethods.includes(method.toUpperCase()))
    throw fail(
      'method',
      `implementation.method must be one of ${httpMethods.join(', ')} (or a {{ }} template), not ${JSON.stringify(method)}.`,
    );
  // With every reference replaced by a sample value, the URL must parse.
  const sample = (t: string) => t.replace(ANY_REFERENCE, 'x');
  if (typeof o.url === 'string' && o.url !== '' && !o.url.trimStart().startsWith('{{')) {
    if (!URL.canParse(sample(o.url)))
      throw fail(
        'url',
        `implementation.url must be an absolute URL, e.g. https://api.example.com/v1/items/{{ input.id }}.`,
      );
  }
  if (typeof o.path === 'string' && !URL.canParse(sample(o.path), 'https://api.example.com/'))
    throw fail(
      'path',
      `implementation.path does not parse as a URL path, e.g. /items/{{ input.id }}.`,
    );
}

export async function createAction(
  db: Queryable,
  tenantId: TenantId,
  input: ActionInput,
): Promise<ActionRow> {
  await assertEditableApp(db, input.appId);
  const valid = validateActionInput(input);
  return conflictAsError('action of this app', () => insertAction(db, { ...valid, tenantId }));
}

export async function changeAction(
  db: Queryable,
  id: ActionId,
  input: ActionInput,
): Promise<ActionRow> {
  const [current] = await selectActionsByIds(db, { ids: [id] });
  if (!current) throw new SwitchyardError('E_NOT_FOUND', 'No such action.');
  await assertEditableApp(db, current.appId);
  await assertEditableApp(db, input.appId);
  const valid = validateActionInput(input);
  const row = await conflictAsError('action of this app', () => updateAction(db, { ...valid, id }));
  if (!row) throw new SwitchyardError('E_NOT_FOUND', 'No such action.');
  return row;
}

export async function removeAction(db: Queryable, id: ActionId): Promise<void> {
  const [current] = await selectActionsByIds(db, { ids: [id] });
  if (!current) throw new SwitchyardError('E_NOT_FOUND', 'No such action.');
  await assertEditableApp(db, current.appId);
  await deleteAction(db, { id });
}
