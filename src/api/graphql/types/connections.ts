import { randomUUID } from 'node:crypto';
import { conflictAsError } from '../../../catalog/conflicts.ts';
import {
  deleteConnection,
  insertConnection,
  selectConnection,
  selectConnections,
  updateConnection,
  type ConnectionRow,
} from '../../../db/queries/connections.ts';
import { selectApp } from '../../../db/queries/apps.ts';
import type { Queryable } from '../../../db/pool.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import type { AppId, ConnectionId, TenantId } from '../../../model/ids.ts';
import { assertMatchesSchema } from '../../../model/json-schema.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { storeConnectionSecret } from '../../../security/secrets/connections.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant, type GraphQLContext } from '../context.ts';
import { pageRef } from '../page-type.ts';
import { nameCursor, pageSize, searchTerm, toPage } from '../pagination.ts';

const ConnectionRef = builder.objectRef<ConnectionRow>('Connection').implement({
  description:
    'A tenant’s credentials for an app. Secret fields are write-only: only `hasSecret` is ever returned.',
  fields: (t) => ({
    id: t.exposeID('id'),
    appId: t.exposeID('appId'),
    name: t.exposeString('name'),
    config: t.expose('config', {
      type: 'JSON',
      description:
        'Non-secret settings, available to http templates as `connection.<field>` (docs/workflows.md).',
    }),
    hasSecret: t.exposeBoolean('hasSecret'),
    status: t.exposeString('status', {
      description:
        '`active`, or `needs_reauth` when the provider refused its OAuth refresh token: its steps fail with E_CONNECTION_NEEDS_REAUTH until an editor connects it again (startOAuthConnection).',
    }),
    statusReason: t.exposeString('statusReason', {
      nullable: true,
      description: 'Why the connection needs to be connected again.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

function validName(raw: string): string {
  const name = raw.trim();
  if (name.length === 0 || name.length > 200)
    throw new SwitchyardError('E_VALIDATION', 'name must be 1 to 200 characters.', {
      field: 'name',
    });
  return name;
}

function asObject(value: unknown, field: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new SwitchyardError('E_VALIDATION', `${field} must be a JSON object.`, { field });
  return value as Record<string, unknown>;
}

async function checkAgainstApp(
  db: Queryable,
  appId: AppId,
  config: Record<string, unknown>,
  secret: Record<string, unknown> | null,
) {
  const app = await selectApp(db, { id: appId });
  if (!app)
    throw new SwitchyardError('E_VALIDATION', 'No such app in this tenant.', { field: 'appId' });
  // The app's schema describes all connection fields; secret fields are checked without echoing them.
  assertMatchesSchema(app.connectionSchema, { ...config, ...(secret ?? {}) }, 'connection');
  assertAuthSecrets(app.authKind, config, secret);
}

/** Secret fields each auth kind reads (runner/actions/auth.ts); without them every call fails. */
const authSecrets: Record<string, string[]> = {
  api_key: ['apiKey'],
  bearer: ['token'],
  basic: ['password'],
  oauth2_client_credentials: ['clientId', 'clientSecret'],
  oauth2_authorization_code: ['clientId', 'clientSecret'],
};

function assertAuthSecrets(
  authKind: string,
  config: Record<string, unknown>,
  secret: Record<string, unknown> | null,
): void {
  const needed = [...(authSecrets[authKind] ?? [])];
  if (authKind === 'basic' && typeof config.username !== 'string') needed.unshift('username');
  const missing = needed.find((f) => typeof secret?.[f] !== 'string' || secret[f] === '');
  if (missing !== undefined)
    throw new SwitchyardError(
      'E_VALIDATION',
      `secret.${missing} is required: this app authenticates with ${authKind} (secret ${JSON.stringify(Object.fromEntries(needed.map((f) => [f, '…'])))}).`,
      { field: `secret.${missing}` },
    );
}

async function saveSecret(
  ctx: GraphQLContext,
  db: Queryable,
  tenantId: TenantId,
  connectionId: ConnectionId,
  secret: Record<string, unknown> | null,
) {
  await storeConnectionSecret(db, ctx.services.secrets, { tenantId, connectionId, secret });
}

const ConnectionPageRef = pageRef('ConnectionPage', ConnectionRef, 'connections');

builder.queryField('connections', (t) =>
  t.field({
    type: ConnectionPageRef,
    authScopes: { viewer: true },
    description:
      'By name (case-insensitive), with cursor pagination (`after` = a previous `endCursor`); `search` keeps the names containing it.',
    args: {
      appId: t.arg.id({ required: false }),
      search: t.arg.string({ required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const limit = pageSize(args.first);
      const after = nameCursor(args.after);
      const search = searchTerm(args.search);
      return inTenant(ctx, async (db, tenantId) =>
        toPage(
          await selectConnections(db, {
            tenantId,
            appId: args.appId ? (String(args.appId) as AppId) : null,
            search,
            after,
            limit: limit + 1,
          }),
          limit,
          (c) => [c.sortKey, c.id],
        ),
      );
    },
  }),
);

builder.mutationField('createConnection', (t) =>
  t.field({
    type: ConnectionRef,
    authScopes: { editor: true },
    args: {
      appId: t.arg.id(),
      name: t.arg.string(),
      config: t.arg({
        type: 'JSON',
        required: false,
        description: 'Non-secret settings (an object; docs/workflows.md). Send it as a variable.',
      }),
      secret: t.arg({
        type: 'JSON',
        required: false,
        description:
          'Secret fields by the app’s authKind: api_key `{"apiKey"}`, bearer `{"token"}`, basic `{"username", "password"}`, oauth2_client_credentials and oauth2_authorization_code `{"clientId", "clientSecret"}` (the latter then granted with startOAuthConnection); write-only (docs/workflows.md).',
      }),
    },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const name = validName(args.name);
        const appId = String(args.appId) as AppId;
        const config = asObject(args.config, 'config');
        const secret = args.secret == null ? null : asObject(args.secret, 'secret');
        await checkAgainstApp(db, appId, config, secret);
        const id = randomUUID() as ConnectionId;
        await conflictAsError('connection', () =>
          insertConnection(db, { tenantId, id, appId, name, config }),
        );
        if (secret) await saveSecret(ctx, db, tenantId, id, secret);
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'connection.created',
          targetKind: 'connection',
          targetId: id,
          metadata: { name, secretSet: secret !== null },
        });
        return (await selectConnection(db, { id }))!;
      }),
  }),
);

builder.mutationField('updateConnection', (t) =>
  t.field({
    type: ConnectionRef,
    authScopes: { editor: true },
    description:
      'Changes name and config; `secret` replaces the secret fields when given (omit it to keep them).',
    args: {
      id: t.arg.id(),
      name: t.arg.string(),
      config: t.arg({ type: 'JSON', required: false, description: 'Non-secret settings.' }),
      secret: t.arg({
        type: 'JSON',
        required: false,
        description: 'Replaces all secret fields (as for createConnection); omitted: kept.',
      }),
    },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const id = String(args.id) as ConnectionId;
        const current = await selectConnection(db, { id });
        if (!current) throw new SwitchyardError('E_NOT_FOUND', 'No such connection.');
        const config = asObject(args.config, 'config');
        const secret = args.secret == null ? null : asObject(args.secret, 'secret');
        if (secret) await checkAgainstApp(db, current.appId, config, secret);
        const name = validName(args.name);
        await conflictAsError('connection', () => updateConnection(db, { id, name, config }));
        if (secret) await saveSecret(ctx, db, tenantId, id, secret);
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'connection.updated',
          targetKind: 'connection',
          targetId: id,
          metadata: { secretReplaced: secret !== null },
        });
        return (await selectConnection(db, { id }))!;
      }),
  }),
);

builder.mutationField('deleteConnection', (t) =>
  t.boolean({
    authScopes: { editor: true },
    args: { id: t.arg.id() },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const id = String(args.id);
        if (!(await deleteConnection(db, { id: id as ConnectionId })))
          throw new SwitchyardError('E_NOT_FOUND', 'No such connection.');
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'connection.deleted',
          targetKind: 'connection',
          targetId: id,
        });
        return true;
      }),
  }),
);
