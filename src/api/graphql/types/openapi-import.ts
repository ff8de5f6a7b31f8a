/**
 * importOpenApi: an OpenAPI document (text, or a URL fetched through the outgoing gate) becomes
 * an app with one action per operation (catalog/openapi/). The document is read off the event
 * loop (a worker thread for big ones), then written in one transaction.
 */
import type { ImportOptions, PreparedPlan } from '../../../catalog/openapi/convert.ts';
import { applyImport, type ImportResult } from '../../../catalog/openapi/import.ts';
import { planOpenApiImport } from '../../../catalog/openapi/run.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import type { AppId } from '../../../model/ids.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant, tenantOf } from '../context.ts';
import { AppRef } from './apps.ts';

type Operation = ImportResult['created'][number];
type Usage = ImportResult['workflowsUsingDeprecated'][number];
type Server = PreparedPlan['servers'][number];
type Scheme = PreparedPlan['securitySchemes'][number];

const OperationRef = builder.objectRef<Operation>('ImportedOperation').implement({
  description: 'One operation of an imported document, as the action it becomes.',
  fields: (t) => ({
    key: t.exposeString('key', { description: 'The action key (from operationId).' }),
    name: t.exposeString('name', { description: 'The action name (from summary).' }),
    method: t.exposeString('method'),
    path: t.exposeString('path'),
  }),
});

const UsageRef = builder.objectRef<Usage>('DeprecatedActionUsage').implement({
  description: 'A live workflow whose current version calls actions the import deprecated.',
  fields: (t) => ({
    workflowId: t.exposeID('id'),
    workflowName: t.exposeString('name'),
    actionKeys: t.exposeStringList('actionKeys'),
  }),
});

const ServerVariableRef = builder
  .objectRef<Server['variables'][number]>('OpenApiServerVariable')
  .implement({
    fields: (t) => ({
      name: t.exposeString('name'),
      default: t.exposeString('default'),
      enum: t.exposeStringList('enum'),
    }),
  });

const ServerRef = builder.objectRef<Server>('OpenApiServer').implement({
  description: 'One of the document’s servers (choose with options.serverIndex).',
  fields: (t) => ({
    url: t.exposeString('url'),
    description: t.exposeString('description', { nullable: true }),
    variables: t.field({ type: [ServerVariableRef], resolve: (s) => s.variables }),
  }),
});

const SchemeRef = builder.objectRef<Scheme>('OpenApiSecurityScheme').implement({
  description: 'A security scheme of the document (choose with options.securityScheme).',
  fields: (t) => ({
    name: t.exposeString('name'),
    type: t.exposeString('type'),
    usable: t.exposeBoolean('usable', { description: 'Switchyard can apply it.' }),
  }),
});

const ResultRef = builder.objectRef<ImportResult>('OpenApiImportResult').implement({
  description:
    'What an import created, updated and deprecated (or would, with dryRun), and the choices the document offers.',
  fields: (t) => ({
    dryRun: t.exposeBoolean('dryRun'),
    app: t.field({
      type: AppRef,
      nullable: true,
      description: 'The app written; null in a dry run that would create it.',
      resolve: (r) => r.app,
    }),
    appCreated: t.exposeBoolean('appCreated', { description: 'The import creates a new app.' }),
    appKey: t.exposeString('appKey'),
    appName: t.exposeString('appName'),
    baseUrl: t.exposeString('baseUrl', { nullable: true }),
    authKind: t.exposeString('authKind'),
    format: t.string({ resolve: (r) => r.plan.format, description: 'e.g. "openapi 3.1.0".' }),
    version: t.string({
      resolve: (r) => r.plan.version,
      description: 'The document’s info.version.',
    }),
    created: t.field({ type: [OperationRef], resolve: (r) => r.created }),
    updated: t.field({ type: [OperationRef], resolve: (r) => r.updated }),
    unchanged: t.field({ type: [OperationRef], resolve: (r) => r.unchanged }),
    deprecated: t.field({
      type: [OperationRef],
      description:
        'Actions of the app whose operation is no longer in the document (kept, marked deprecated).',
      resolve: (r) => r.deprecated,
    }),
    workflowsUsingDeprecated: t.field({
      type: [UsageRef],
      resolve: (r) => r.workflowsUsingDeprecated,
    }),
    servers: t.field({ type: [ServerRef], resolve: (r) => r.plan.servers }),
    securitySchemes: t.field({ type: [SchemeRef], resolve: (r) => r.plan.securitySchemes }),
    warnings: t.stringList({ resolve: (r) => r.plan.warnings }),
  }),
});

const OptionsInput = builder.inputType('OpenApiImportOptions', {
  fields: (t) => ({
    appId: t.id({
      required: false,
      description: 'Update this app (default: the app with appKey).',
    }),
    appKey: t.string({ required: false, description: 'Default: from the document’s title.' }),
    appName: t.string({ required: false, description: 'Default: the document’s title.' }),
    serverIndex: t.int({
      required: false,
      description: 'Which of the document’s servers (default 0).',
    }),
    serverVariables: t.field({
      type: 'JSON',
      required: false,
      description: 'Values for the chosen server’s {variables}, e.g. {"region": "eu"}.',
    }),
    baseUrl: t.string({ required: false, description: 'A base URL instead of the servers’.' }),
    securityScheme: t.string({
      required: false,
      description: 'The scheme to use when there are several.',
    }),
    dryRun: t.boolean({
      required: false,
      description: 'Say what would be created, updated and deprecated; write nothing.',
    }),
  }),
});

builder.mutationField('importOpenApi', (t) =>
  t.field({
    type: ResultRef,
    authScopes: { editor: true },
    description:
      'Creates or updates an app from an OpenAPI 3.0/3.1 or Swagger 2.0 document (JSON or YAML), given as text (`document`, up to the request size limit) or fetched from `url` through the outgoing gate: one action per operation; vanished operations are deprecated, not deleted. Audited unless dryRun.',
    args: {
      document: t.arg.string({ required: false }),
      url: t.arg.string({ required: false }),
      options: t.arg({ type: OptionsInput, required: false }),
    },
    resolve: async (_r, args, ctx) => {
      const { tenantId } = tenantOf(ctx);
      if ((args.document == null) === (args.url == null))
        throw new SwitchyardError('E_VALIDATION', 'Send either document or url.', {
          field: 'document',
        });
      let text = args.document ?? '';
      if (args.url != null) {
        if (!URL.canParse(args.url) || !/^https?:$/.test(new URL(args.url).protocol))
          throw new SwitchyardError('E_VALIDATION', 'url must be an absolute http(s) URL.', {
            field: 'url',
          });
        const fetchDocument = ctx.services.fetchDocument;
        if (!fetchDocument)
          throw new SwitchyardError(
            'E_RUNNER_UNAVAILABLE',
            'This API process cannot make outgoing requests (no gate is wired).',
          );
        // Outside any transaction: a slow server must not hold a database connection.
        text = await fetchDocument(args.url);
      }
      const o = args.options ?? {};
      const variables = o.serverVariables ?? undefined;
      if (
        variables !== undefined &&
        (typeof variables !== 'object' || variables === null || Array.isArray(variables))
      )
        throw new SwitchyardError('E_VALIDATION', 'serverVariables must be an object of strings.', {
          field: 'options.serverVariables',
        });
      const options: ImportOptions = {
        ...(o.appKey != null ? { appKey: o.appKey } : {}),
        ...(o.appName != null ? { appName: o.appName } : {}),
        ...(o.serverIndex != null ? { serverIndex: o.serverIndex } : {}),
        ...(variables
          ? {
              serverVariables: Object.fromEntries(
                Object.entries(variables).map(([k, v]) => [k, String(v)]),
              ),
            }
          : {}),
        ...(o.baseUrl != null ? { baseUrl: o.baseUrl } : {}),
        ...(o.securityScheme != null ? { securityScheme: o.securityScheme } : {}),
        ...(args.url != null ? { sourceUrl: args.url } : {}),
      };
      const plan = await planOpenApiImport(text, options);
      const dryRun = o.dryRun === true;
      return inTenant(ctx, async (db) => {
        const result = await applyImport(db, tenantId, plan, {
          ...(o.appId != null ? { appId: String(o.appId) as AppId } : {}),
          dryRun,
          now: ctx.services.clock.now(),
        });
        if (!dryRun && result.app)
          await recordAudit(db, {
            tenantId,
            ...auditActor(ctx),
            action: 'app.imported',
            targetKind: 'app',
            targetId: result.app.id,
            metadata: {
              key: result.app.key,
              created: result.created.length,
              updated: result.updated.length,
              deprecated: result.deprecated.length,
              ...(args.url != null ? { url: args.url } : {}),
            },
          });
        return result;
      });
    },
  }),
);
