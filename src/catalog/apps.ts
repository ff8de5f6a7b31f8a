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
import { SwitchyardError } from '../model/errors.ts';
import type { ActionId, AppId, TenantId } from '../model/ids.ts';
import { assertJsonSchema } from '../model/json-schema.ts';

const authKinds = ['none', 'api_key', 'bearer', 'basic', 'oauth2_client_credentials'];
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
  assertJsonSchema(p.connectionSchema, 'connectionSchema');
  return { ...p, name: p.name.trim() };
}

export async function createApp(
  db: Queryable,
  tenantId: TenantId,
  input: AppInput,
): Promise<AppRow> {
  return insertApp(db, { ...validateAppInput(input), tenantId, isBuiltin: false });
}

export async function changeApp(db: Queryable, id: AppId, input: AppInput): Promise<AppRow> {
  await assertEditableApp(db, id);
  const row = await updateApp(db, { ...validateAppInput(input), id });
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
    if (typeof o.method !== 'string' || (typeof o.path !== 'string' && typeof o.url !== 'string')) {
      throw new SwitchyardError(
        'E_VALIDATION',
        'http implementations need "method" and "path" (or "url").',
        { field: 'implementation' },
      );
    }
  } else if (typeof o.code !== 'string' && o.codeFromInput !== true) {
    throw new SwitchyardError('E_VALIDATION', `${kind} implementations need "code".`, {
      field: 'implementation',
    });
  }
}

export async function createAction(
  db: Queryable,
  tenantId: TenantId,
  input: ActionInput,
): Promise<ActionRow> {
  await assertEditableApp(db, input.appId);
  return insertAction(db, { ...validateActionInput(input), tenantId });
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
  const row = await updateAction(db, { ...validateActionInput(input), id });
  if (!row) throw new SwitchyardError('E_NOT_FOUND', 'No such action.');
  return row;
}

export async function removeAction(db: Queryable, id: ActionId): Promise<void> {
  const [current] = await selectActionsByIds(db, { ids: [id] });
  if (!current) throw new SwitchyardError('E_NOT_FOUND', 'No such action.');
  await assertEditableApp(db, current.appId);
  await deleteAction(db, { id });
}
