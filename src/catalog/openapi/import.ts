/**
 * Writes an import plan (convert.ts) into a tenant's catalog, inside the caller's transaction:
 * creates or updates the app, inserts new actions and updates existing ones by key (keeping
 * the builder's retry, timeout and rate-limit settings), and marks the actions whose operation
 * left the document deprecated — never deletes them, since workflows may still call them.
 * A dry run computes the same result and writes nothing.
 */
import type { Queryable } from '../../db/pool.ts';
import {
  classifyImportedActions,
  deprecateActions,
  insertImportedActions,
  selectActionSummaries,
  updateImportedActions,
} from '../../db/queries/actions.ts';
import {
  insertApp,
  selectApp,
  selectAppByKey,
  updateApp,
  type AppRow,
} from '../../db/queries/apps.ts';
import { selectWorkflowsUsingActions } from '../../db/queries/workflow-versions.ts';
import { SwitchyardError } from '../../model/errors.ts';
import type { AppId, TenantId, WorkflowId } from '../../model/ids.ts';
import { validateAppInput } from '../apps.ts';
import { conflictAsError } from '../conflicts.ts';
import type { OperationSummary, PreparedPlan } from './convert.ts';

export type ImportedActionSummary = OperationSummary;

export type ImportResult = {
  /** The app written (null in a dry run that would create it). */
  app: AppRow | null;
  appKey: string;
  appName: string;
  baseUrl: string | null;
  authKind: string;
  appCreated: boolean;
  created: ImportedActionSummary[];
  updated: ImportedActionSummary[];
  unchanged: ImportedActionSummary[];
  deprecated: ImportedActionSummary[];
  /** Live workflows calling an action this import deprecates (or that was already deprecated). */
  workflowsUsingDeprecated: Array<{ id: WorkflowId; name: string; actionKeys: string[] }>;
  plan: PreparedPlan;
  dryRun: boolean;
};

export async function applyImport(
  db: Queryable,
  tenantId: TenantId,
  plan: PreparedPlan,
  p: { appId?: AppId; dryRun: boolean; now: Date },
): Promise<ImportResult> {
  const existing = p.appId
    ? await selectApp(db, { id: p.appId })
    : await selectAppByKey(db, { key: plan.app.key });
  if (p.appId && !existing) throw new SwitchyardError('E_NOT_FOUND', 'No such app.');
  if (existing?.isBuiltin)
    throw new SwitchyardError('E_FORBIDDEN', 'Built-in apps and their actions cannot be changed.', {
      field: 'appKey',
    });
  if (plan.operations.length === 0)
    throw new SwitchyardError('E_OPENAPI_INVALID', 'The document has no operations to import.', {
      field: 'document',
    });
  const appInput = validateAppInput({
    key: existing?.key ?? plan.app.key,
    name: existing && !plan.explicit.name ? existing.name : plan.app.name,
    baseUrl: existing && !plan.explicit.baseUrl ? existing.baseUrl : plan.app.baseUrl,
    authKind: plan.app.authKind,
    authConfig: plan.app.authConfig,
    connectionSchema: plan.app.connectionSchema,
  });

  const current = existing ? await selectActionSummaries(db, { appId: existing.id }) : [];
  const diff = await classifyImportedActions(db, {
    appId: existing?.id ?? null,
    actions: plan.actionsJson,
  });
  const createdKeys = new Set(diff.created);
  const changedKeys = new Set(diff.changed);
  const created = plan.operations.filter((o) => createdKeys.has(o.key));
  const updated = plan.operations.filter((o) => changedKeys.has(o.key));
  const unchanged = plan.operations.filter(
    (o) => !createdKeys.has(o.key) && !changedKeys.has(o.key),
  );
  const planned = new Set(plan.operations.map((o) => o.key));
  const gone = current.filter((a) => !planned.has(a.key));
  const deprecated = gone.filter((a) => a.deprecatedAt === null);
  const usage = await selectWorkflowsUsingActions(db, { actionIds: gone.map((a) => a.id) });
  const keyOf = new Map(gone.map((a) => [a.id as string, a.key]));

  let app: AppRow | null = existing ?? null;
  if (!p.dryRun) {
    app = existing
      ? ((await conflictAsError('app', () => updateApp(db, { ...appInput, id: existing.id }))) ??
        null)
      : await conflictAsError('app', () =>
          insertApp(db, { ...appInput, tenantId, isBuiltin: false }),
        );
    if (!app) throw new SwitchyardError('E_NOT_FOUND', 'No such app.');
    if (created.length > 0)
      await insertImportedActions(db, {
        tenantId,
        appId: app.id,
        actions: plan.actionsJson,
        keys: diff.created,
      });
    if (updated.length > 0)
      await updateImportedActions(db, {
        appId: app.id,
        actions: plan.actionsJson,
        keys: diff.changed,
      });
    if (deprecated.length > 0)
      await deprecateActions(db, { appId: app.id, keys: deprecated.map((a) => a.key), at: p.now });
  }
  return {
    app,
    appKey: appInput.key,
    appName: appInput.name,
    baseUrl: appInput.baseUrl,
    authKind: appInput.authKind,
    appCreated: !existing,
    created,
    updated,
    unchanged,
    deprecated: deprecated.map(({ key, name, method, path }) => ({ key, name, method, path })),
    workflowsUsingDeprecated: usage.map((w) => ({
      id: w.id,
      name: w.name,
      actionKeys: w.actionIds.map((id) => keyOf.get(id) ?? id),
    })),
    plan,
    dryRun: p.dryRun,
  };
}
