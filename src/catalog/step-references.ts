/** What an action step names must be of this tenant (definition versions 1 and 2 alike). */
import type { Queryable } from '../db/pool.ts';
import { selectActionsByIds } from '../db/queries/actions.ts';
import { selectApp } from '../db/queries/apps.ts';
import { selectConnectionApps } from '../db/queries/connections.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { StepDefinition } from '../model/step.ts';

function invalid(message: string, field: string): SwitchyardError {
  return new SwitchyardError('E_VALIDATION', message, { field });
}

/**
 * Each action step's action and connection belong to this tenant (row security hides the
 * others), its connection to the action's app, and a step whose app needs a connection has
 * one. `where` is the step's JSON path (`definition.steps[i]`, or deeper in version 2).
 */
export async function assertSameTenantReferences(
  db: Queryable,
  steps: Array<{
    where: string;
    step: Pick<StepDefinition, 'actionId' | 'connectionId'>;
  }>,
): Promise<void> {
  const actions = new Map(
    (
      await selectActionsByIds(db, { ids: [...new Set(steps.map(({ step }) => step.actionId))] })
    ).map((a) => [a.id, a]),
  );
  const connectionIds = [
    ...new Set(steps.flatMap(({ step }) => (step.connectionId ? [step.connectionId] : []))),
  ];
  const connectionApps = await selectConnectionApps(db, { ids: connectionIds });
  const apps = new Map<string, Awaited<ReturnType<typeof selectApp>>>();
  for (const appId of new Set([...actions.values()].map((a) => a.appId)))
    apps.set(appId, await selectApp(db, { id: appId }));
  for (const { where, step: s } of steps) {
    const action = actions.get(s.actionId);
    if (!action)
      throw invalid(`${where}.actionId: no such action in this tenant.`, `${where}.actionId`);
    const app = apps.get(action.appId);
    if (!s.connectionId && app && needsConnection(app)) {
      throw invalid(
        `${where}.connectionId is required: the app "${app.key}" ${app.authKind === 'none' ? 'needs connection fields' : `authenticates with ${app.authKind}`}; create a connection (createConnection) and give its id.`,
        `${where}.connectionId`,
      );
    }
    if (s.connectionId) {
      const appId = connectionApps.get(s.connectionId);
      if (!appId)
        throw invalid(
          `${where}.connectionId: no such connection in this tenant.`,
          `${where}.connectionId`,
        );
      if (appId !== action.appId)
        throw invalid(
          `${where}.connectionId belongs to another app than the action.`,
          `${where}.connectionId`,
        );
    }
  }
}

/** An app whose actions cannot run without a connection: it authenticates, or requires fields. */
function needsConnection(app: { authKind: string; connectionSchema: unknown }): boolean {
  const required = (app.connectionSchema as { required?: unknown } | null)?.required;
  return app.authKind !== 'none' || (Array.isArray(required) && required.length > 0);
}
