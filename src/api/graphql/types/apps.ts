import {
  changeAction,
  changeApp,
  createAction,
  createApp,
  removeAction,
  removeApp,
} from '../../../catalog/apps.ts';
import {
  selectActions,
  selectActionsByIdsSorted,
  selectAppActions,
  type ActionRow,
} from '../../../db/queries/actions.ts';
import { selectApp, selectApps, type AppRow } from '../../../db/queries/apps.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import type { ActionId, AppId } from '../../../model/ids.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant } from '../context.ts';
import { pageRef } from '../page-type.ts';
import { decodeCursor, nameCursor, pageSize, searchTerm, toPage } from '../pagination.ts';

const AuthKindEnum = builder.enumType('AuthKind', {
  values: [
    'none',
    'api_key',
    'bearer',
    'basic',
    'oauth2_client_credentials',
    'oauth2_authorization_code',
  ] as const,
});
const ActionKindEnum = builder.enumType('ActionKind', {
  values: ['http', 'javascript', 'python'] as const,
});
const RetryStrategyEnum = builder.enumType('RetryStrategy', {
  values: ['none', 'fixed', 'exponential'] as const,
});

export const ActionRef = builder.objectRef<ActionRow>('Action');
export const AppRef = builder.objectRef<AppRow>('App');

AppRef.implement({
  description:
    'An external service: its base URL, auth kind and the JSON Schema of its connection fields.',
  fields: (t) => ({
    id: t.exposeID('id'),
    key: t.exposeString('key'),
    name: t.exposeString('name'),
    baseUrl: t.exposeString('baseUrl', { nullable: true }),
    authKind: t.exposeString('authKind'),
    authConfig: t.expose('authConfig', {
      type: 'JSON',
      description:
        'Non-secret auth settings by authKind: api_key `{"in": "header"|"query", "name": "X-Api-Key"}`; oauth2_client_credentials `{"tokenUrl", "scope"}`; oauth2_authorization_code `{"authorizeUrl", "tokenUrl", "scopes", "clientAuth", "authorizeParams"}`; others `{}` (docs/workflows.md, "Apps, actions, connections").',
    }),
    connectionSchema: t.expose('connectionSchema', {
      type: 'JSON',
      description:
        'JSON Schema of a connection\'s config and secret fields, e.g. `{"type": "object", "required": ["apiKey"]}` (docs/workflows.md).',
    }),
    isBuiltin: t.exposeBoolean('isBuiltin'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    actions: t.field({
      type: [ActionRef],
      description:
        'All of the app’s actions, by name (the top-level `actions(appId:)` pages and searches them).',
      resolve: (app, _a, ctx) => inTenant(ctx, (db) => selectAppActions(db, { appId: app.id })),
    }),
  }),
});

ActionRef.implement({
  description: 'An operation of an app, with its schemas, implementation and reliability settings.',
  fields: (t) => ({
    id: t.exposeID('id'),
    appId: t.exposeID('appId'),
    app: t.field({
      type: AppRef,
      description: 'The app the action belongs to.',
      resolve: async (a, _args, ctx) => {
        const app = await inTenant(ctx, (db) => selectApp(db, { id: a.appId }));
        if (!app) throw new SwitchyardError('E_NOT_FOUND', 'The action’s app vanished.');
        return app;
      },
    }),
    key: t.exposeString('key'),
    name: t.exposeString('name'),
    kind: t.exposeString('kind'),
    inputSchema: t.expose('inputSchema', {
      type: 'JSON',
      description:
        'JSON Schema the resolved step input must match (defaults are filled in); docs/workflows.md.',
    }),
    outputSchema: t.expose('outputSchema', {
      type: 'JSON',
      description: 'JSON Schema the step output must match (`{}`: anything).',
    }),
    implementation: t.expose('implementation', {
      type: 'JSON',
      description:
        'http: `{method, path | url, query, headers, body, bodyType, output, signing}`, templates over `input`, `connection`, `run`; javascript/python: `{code}`, a function body over `input` (docs/workflows.md, "Actions"). Send it as a variable.',
    }),
    retryStrategy: t.exposeString('retryStrategy'),
    maxAttempts: t.exposeInt('maxAttempts'),
    initialDelayMs: t.exposeInt('initialDelayMs'),
    maxDelayMs: t.exposeInt('maxDelayMs'),
    timeoutMs: t.exposeInt('timeoutMs'),
    rateLimitRequests: t.exposeInt('rateLimitRequests', { nullable: true }),
    rateLimitPerSeconds: t.exposeInt('rateLimitPerSeconds', { nullable: true }),
    deprecatedAt: t.expose('deprecatedAt', {
      type: 'DateTime',
      nullable: true,
      description:
        'Set when a re-import of the app’s OpenAPI document no longer has this operation (it still runs).',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const AppInput = builder.inputType('AppInput', {
  fields: (t) => ({
    key: t.string(),
    name: t.string(),
    baseUrl: t.string({ required: false }),
    authKind: t.field({ type: AuthKindEnum }),
    authConfig: t.field({
      type: 'JSON',
      required: false,
      description:
        'Non-secret auth settings by authKind: api_key `{"in": "header"|"query", "name": "X-Api-Key"}`; oauth2_client_credentials `{"tokenUrl", "scope"}`; oauth2_authorization_code `{"authorizeUrl", "tokenUrl", "scopes", "clientAuth", "authorizeParams"}`; others `{}` (docs/workflows.md, "Apps, actions, connections").',
    }),
    connectionSchema: t.field({
      type: 'JSON',
      required: false,
      description:
        'JSON Schema of a connection\'s config and secret fields, e.g. `{"type": "object", "required": ["apiKey"]}` (docs/workflows.md).',
    }),
  }),
});

const ActionInput = builder.inputType('ActionInput', {
  fields: (t) => ({
    appId: t.id(),
    key: t.string(),
    name: t.string(),
    kind: t.field({ type: ActionKindEnum }),
    inputSchema: t.field({
      type: 'JSON',
      required: false,
      description:
        'JSON Schema the resolved step input must match (defaults are filled in); docs/workflows.md.',
    }),
    outputSchema: t.field({
      type: 'JSON',
      required: false,
      description: 'JSON Schema the step output must match (`{}`: anything).',
    }),
    implementation: t.field({
      type: 'JSON',
      description:
        'http: `{method, path | url, query, headers, body, bodyType, output, signing}`, templates over `input`, `connection`, `run`; javascript/python: `{code}`, a function body over `input` (docs/workflows.md, "Actions"). Send it as a variable.',
    }),
    retryStrategy: t.field({ type: RetryStrategyEnum, required: false }),
    maxAttempts: t.int({ required: false }),
    initialDelayMs: t.int({ required: false }),
    maxDelayMs: t.int({ required: false }),
    timeoutMs: t.int({ required: false }),
    rateLimitRequests: t.int({ required: false }),
    rateLimitPerSeconds: t.int({ required: false }),
  }),
});

type AppInputShape = typeof AppInput.$inferInput;
type ActionInputShape = typeof ActionInput.$inferInput;

const toApp = (i: AppInputShape) => ({
  key: i.key,
  name: i.name,
  baseUrl: i.baseUrl ?? null,
  authKind: i.authKind,
  authConfig: (i.authConfig ?? {}) as Record<string, unknown>,
  connectionSchema: i.connectionSchema ?? { type: 'object' },
});

const toAction = (i: ActionInputShape) => ({
  appId: String(i.appId) as AppId,
  key: i.key,
  name: i.name,
  kind: i.kind,
  inputSchema: i.inputSchema ?? { type: 'object' },
  outputSchema: i.outputSchema ?? {},
  implementation: i.implementation,
  retryStrategy: i.retryStrategy ?? 'exponential',
  maxAttempts: i.maxAttempts ?? 3,
  initialDelayMs: i.initialDelayMs ?? 1000,
  maxDelayMs: i.maxDelayMs ?? 60_000,
  timeoutMs: i.timeoutMs ?? 30_000,
  rateLimitRequests: i.rateLimitRequests ?? null,
  rateLimitPerSeconds: i.rateLimitPerSeconds ?? null,
});

const AppPageRef = pageRef('AppPage', AppRef, 'apps');
const ActionPageRef = pageRef('ActionPage', ActionRef, 'actions');

/** An apps cursor: [is_builtin, lower(name), id] of the last app of the previous page. */
function appCursor(after: string | null | undefined) {
  const key = decodeCursor(after);
  if (!key) return null;
  if (typeof key[0] !== 'boolean' || typeof key[1] !== 'string' || typeof key[2] !== 'string')
    throw new SwitchyardError('E_VALIDATION', 'The cursor is not one this API returned.', {
      field: 'after',
    });
  return { builtin: key[0], name: key[1], id: key[2] };
}

builder.queryField('apps', (t) =>
  t.field({
    type: AppPageRef,
    authScopes: { viewer: true },
    description:
      'Built-in apps first, then by name (case-insensitive), with cursor pagination (`after` = a previous `endCursor`); `search` keeps the names containing it.',
    args: {
      search: t.arg.string({ required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const limit = pageSize(args.first);
      const after = appCursor(args.after);
      const search = searchTerm(args.search);
      return inTenant(ctx, async (db, tenantId) =>
        toPage(await selectApps(db, { tenantId, search, after, limit: limit + 1 }), limit, (a) => [
          a.isBuiltin,
          a.sortKey,
          a.id,
        ]),
      );
    },
  }),
);

builder.queryField('app', (t) =>
  t.field({
    type: AppRef,
    nullable: true,
    authScopes: { viewer: true },
    args: { id: t.arg.id() },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db) => (await selectApp(db, { id: String(args.id) as AppId })) ?? null),
  }),
);

builder.queryField('actions', (t) =>
  t.field({
    type: ActionPageRef,
    authScopes: { viewer: true },
    description:
      'By name (case-insensitive), of one app or all, with cursor pagination (`after` = a previous `endCursor`); `search` keeps the actions whose name, app name or "App · Action" title contains it.',
    args: {
      appId: t.arg.id({ required: false }),
      ids: t.arg.idList({
        required: false,
        description: 'Only these actions (at most `first`): those a workflow’s steps use.',
      }),
      search: t.arg.string({ required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const limit = pageSize(args.first);
      const after = nameCursor(args.after);
      const search = searchTerm(args.search);
      const ids = args.ids?.map(String);
      if (ids && ids.length > limit)
        throw new SwitchyardError('E_VALIDATION', `ids must be at most first (${limit}) ids.`, {
          field: 'ids',
        });
      return inTenant(ctx, async (db, tenantId) =>
        toPage(
          ids
            ? await selectActionsByIdsSorted(db, { ids })
            : await selectActions(db, {
                tenantId,
                appId: args.appId ? (String(args.appId) as AppId) : null,
                search,
                after,
                limit: limit + 1,
              }),
          limit,
          (a) => [a.sortKey, a.id],
        ),
      );
    },
  }),
);

builder.mutationField('createApp', (t) =>
  t.field({
    type: AppRef,
    authScopes: { editor: true },
    args: { input: t.arg({ type: AppInput }) },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const app = await createApp(db, tenantId, toApp(args.input));
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'app.created',
          targetKind: 'app',
          targetId: app.id,
          metadata: { key: app.key },
        });
        return app;
      }),
  }),
);

builder.mutationField('updateApp', (t) =>
  t.field({
    type: AppRef,
    authScopes: { editor: true },
    args: { id: t.arg.id(), input: t.arg({ type: AppInput }) },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const app = await changeApp(db, String(args.id) as AppId, toApp(args.input));
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'app.updated',
          targetKind: 'app',
          targetId: app.id,
          metadata: { key: app.key },
        });
        return app;
      }),
  }),
);

builder.mutationField('deleteApp', (t) =>
  t.boolean({
    authScopes: { editor: true },
    args: { id: t.arg.id() },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        await removeApp(db, String(args.id) as AppId);
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'app.deleted',
          targetKind: 'app',
          targetId: String(args.id),
        });
        return true;
      }),
  }),
);

builder.mutationField('createAction', (t) =>
  t.field({
    type: ActionRef,
    authScopes: { editor: true },
    args: { input: t.arg({ type: ActionInput }) },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const action = await createAction(db, tenantId, toAction(args.input));
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'action.created',
          targetKind: 'action',
          targetId: action.id,
          metadata: { key: action.key },
        });
        return action;
      }),
  }),
);

builder.mutationField('updateAction', (t) =>
  t.field({
    type: ActionRef,
    authScopes: { editor: true },
    args: { id: t.arg.id(), input: t.arg({ type: ActionInput }) },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const action = await changeAction(db, String(args.id) as ActionId, toAction(args.input));
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'action.updated',
          targetKind: 'action',
          targetId: action.id,
          metadata: { key: action.key },
        });
        return action;
      }),
  }),
);

builder.mutationField('deleteAction', (t) =>
  t.boolean({
    authScopes: { editor: true },
    args: { id: t.arg.id() },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        await removeAction(db, String(args.id) as ActionId);
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'action.deleted',
          targetKind: 'action',
          targetId: String(args.id),
        });
        return true;
      }),
  }),
);
