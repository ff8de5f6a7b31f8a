/** Workflow definitions are validated on save, so a run never meets a malformed definition. */
import type { Queryable } from '../db/pool.ts';
import { selectActionsByIds } from '../db/queries/actions.ts';
import { selectConnectionApps } from '../db/queries/connections.ts';
import {
  insertNextVersion,
  selectVersion,
  type WorkflowVersionRow,
} from '../db/queries/workflow-versions.ts';
import {
  insertWorkflow,
  selectWorkflow,
  setCurrentVersion,
  updateWorkflow,
  type WorkflowRow,
} from '../db/queries/workflows.ts';
import { SwitchyardError } from '../model/errors.ts';
import {
  isUuid,
  type ActionId,
  type ConnectionId,
  type TenantId,
  type WorkflowId,
  type WorkflowVersionId,
} from '../model/ids.ts';
import type { StepDefinition } from '../model/step.ts';

const stepIdPattern = /^[a-z][a-z0-9_]{0,62}$/;
const MAX_STEPS = 100;
const referencePattern = /\{\{\s*([^}]*?)\s*\}\}/g;

function invalid(message: string, field = 'definition'): SwitchyardError {
  return new SwitchyardError('E_VALIDATION', message, { field });
}

/** Checks a definition's shape and references; returns the normalised steps. */
export async function validateDefinition(
  db: Queryable,
  definition: unknown,
): Promise<{ steps: StepDefinition[] }> {
  const raw = (definition as { steps?: unknown } | null)?.steps;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_STEPS) {
    throw invalid(`definition.steps must be a list of 1 to ${MAX_STEPS} steps.`);
  }
  const steps: StepDefinition[] = [];
  const seen = new Set<string>();
  for (const [i, value] of raw.entries()) {
    const s = value as Record<string, unknown>;
    const where = `definition.steps[${i}]`;
    if (typeof s !== 'object' || s === null) throw invalid(`${where} must be an object.`);
    if (typeof s.id !== 'string' || !stepIdPattern.test(s.id)) {
      throw invalid(`${where}.id must be lower-case letters, digits or _, starting with a letter.`);
    }
    if (seen.has(s.id))
      throw invalid(`${where}.id "${s.id}" is used twice; step ids must be unique.`);
    if (typeof s.actionId !== 'string' || !isUuid(s.actionId))
      throw invalid(`${where}.actionId must be an action id.`);
    if (s.connectionId != null && (typeof s.connectionId !== 'string' || !isUuid(s.connectionId))) {
      throw invalid(`${where}.connectionId must be a connection id or null.`);
    }
    const onError = s.onError ?? 'fail';
    if (onError !== 'fail' && onError !== 'continue')
      throw invalid(`${where}.onError must be "fail" or "continue".`);
    if (s.if != null && typeof s.if !== 'string')
      throw invalid(`${where}.if must be a mapping expression string.`);
    for (const ref of references([s.input, s.if])) {
      const [root, stepId] = ref.split('.');
      if (root !== 'trigger' && root !== 'steps' && root !== 'run') {
        throw invalid(
          `${where} references "{{ ${ref} }}": a reference starts with trigger, steps or run.`,
        );
      }
      if (root === 'steps' && (!stepId || !seen.has(stepId))) {
        throw invalid(
          `${where} references "{{ ${ref} }}": only steps before this one can be referenced.`,
        );
      }
    }
    seen.add(s.id);
    steps.push({
      id: s.id,
      actionId: s.actionId as ActionId,
      connectionId: (s.connectionId as ConnectionId | null | undefined) ?? null,
      input: s.input ?? {},
      if: s.if ?? null,
      onError,
    });
  }
  await assertSameTenantReferences(db, steps);
  return { steps };
}

function references(values: unknown[]): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') for (const m of v.matchAll(referencePattern)) out.push(m[1]!);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  values.forEach(walk);
  return out;
}

async function assertSameTenantReferences(db: Queryable, steps: StepDefinition[]): Promise<void> {
  const actions = new Map(
    (await selectActionsByIds(db, { ids: [...new Set(steps.map((s) => s.actionId))] })).map((a) => [
      a.id,
      a,
    ]),
  );
  const connectionIds = [
    ...new Set(steps.flatMap((s) => (s.connectionId ? [s.connectionId] : []))),
  ];
  const connectionApps = await selectConnectionApps(db, { ids: connectionIds });
  steps.forEach((s, i) => {
    const action = actions.get(s.actionId);
    if (!action) throw invalid(`definition.steps[${i}].actionId: no such action in this tenant.`);
    if (s.connectionId) {
      const appId = connectionApps.get(s.connectionId);
      if (!appId)
        throw invalid(`definition.steps[${i}].connectionId: no such connection in this tenant.`);
      if (appId !== action.appId)
        throw invalid(
          `definition.steps[${i}].connectionId belongs to another app than the action.`,
        );
    }
  });
}

export async function createWorkflow(
  db: Queryable,
  tenantId: TenantId,
  p: { name: string; description: string },
): Promise<WorkflowRow> {
  const name = p.name.trim();
  if (name.length === 0 || name.length > 200)
    throw invalid('name must be 1 to 200 characters.', 'name');
  return insertWorkflow(db, { tenantId, name, description: p.description });
}

export async function changeWorkflow(
  db: Queryable,
  id: WorkflowId,
  p: { name: string; description: string | null; archived: boolean | null },
): Promise<WorkflowRow> {
  const name = p.name.trim();
  if (name.length === 0 || name.length > 200)
    throw invalid('name must be 1 to 200 characters.', 'name');
  const row = await updateWorkflow(db, { id, ...p, name });
  if (!row) throw new SwitchyardError('E_NOT_FOUND', 'No such workflow.');
  return row;
}

export async function saveVersion(
  db: Queryable,
  tenantId: TenantId,
  p: { workflowId: WorkflowId; definition: unknown; createdBy: string | null; publish: boolean },
): Promise<WorkflowVersionRow> {
  if (!(await selectWorkflow(db, { id: p.workflowId })))
    throw new SwitchyardError('E_NOT_FOUND', 'No such workflow.');
  const definition = await validateDefinition(db, p.definition);
  const version = await insertNextVersion(db, {
    tenantId,
    workflowId: p.workflowId,
    definition,
    createdBy: p.createdBy,
  });
  if (p.publish) await setCurrentVersion(db, { id: p.workflowId, versionId: version.id });
  return version;
}

export async function publishVersion(
  db: Queryable,
  versionId: WorkflowVersionId,
): Promise<WorkflowRow> {
  const version = await selectVersion(db, { id: versionId });
  if (!version) throw new SwitchyardError('E_NOT_FOUND', 'No such workflow version.');
  const row = await setCurrentVersion(db, { id: version.workflowId, versionId });
  if (!row) throw new SwitchyardError('E_NOT_FOUND', 'No such workflow.');
  return row;
}
