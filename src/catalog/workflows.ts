/** Workflow definitions are validated on save, so a run never meets a malformed definition. */
import type { Queryable } from '../db/pool.ts';
import {
  insertNextVersion,
  selectVersion,
  selectVersionIsTest,
  type WorkflowVersionRow,
} from '../db/queries/workflow-versions.ts';
import {
  insertWorkflow,
  selectWorkflow,
  setCurrentVersion,
  updateWorkflow,
  type WorkflowRow,
} from '../db/queries/workflows.ts';
import { isSwitchyardError, SwitchyardError } from '../model/errors.ts';
import {
  isUuid,
  type ActionId,
  type ConnectionId,
  type TenantId,
  type WorkflowId,
  type WorkflowVersionId,
} from '../model/ids.ts';
import { checkTemplate, expressionReferences, type PathSegment } from '../model/mapping-syntax.ts';
import type { StepDefinition } from '../model/step.ts';
import { definitionVersionOf, type DefinitionV2 } from '../model/workflow-v2.ts';
import { conflictAsError } from './conflicts.ts';
import { validateDefinitionV2 } from './definition-v2.ts';
import { assertSameTenantReferences } from './step-references.ts';

const stepIdPattern = /^[a-z][a-z0-9_]{0,62}$/;
const MAX_STEPS = 100;
const stepFields = ['id', 'actionId', 'connectionId', 'input', 'if', 'onError'];
/** What a step's `input` and `if` may reference (runner/mapping.ts `stepScope`). */
const stepRoots = ['trigger', 'steps', 'run'] as const;

function invalid(message: string, field = 'definition'): SwitchyardError {
  return new SwitchyardError('E_VALIDATION', message, { field });
}

/** Checks a definition's shape and references; returns the normalised steps. */
export async function validateDefinition(
  db: Queryable,
  definition: unknown,
): Promise<{ steps: StepDefinition[] }> {
  if (typeof definition === 'string')
    throw invalid(
      'definition is a string: send the JSON object itself ({"steps": [...]}) as a GraphQL variable, not JSON text.',
      'definition',
    );
  const raw = (definition as { steps?: unknown } | null)?.steps;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_STEPS) {
    throw invalid(
      `definition.steps must be a list of 1 to ${MAX_STEPS} steps ({"steps": [...]}, docs/workflows.md).`,
      'definition.steps',
    );
  }
  const steps: StepDefinition[] = [];
  const seen = new Set<string>();
  for (const [i, value] of raw.entries()) {
    const s = value as Record<string, unknown>;
    const where = `definition.steps[${i}]`;
    if (typeof s !== 'object' || s === null || Array.isArray(s))
      throw invalid(`${where} must be an object.`, where);
    if ('pinnedOutput' in s)
      throw invalid(
        `${where}.pinnedOutput: pins are for test runs only and are never saved or published; pass them to testWorkflow as pinnedOutputs (docs/workflows.md, "Test before publishing").`,
        `${where}.pinnedOutput`,
      );
    const unknown = Object.keys(s).find((k) => !stepFields.includes(k));
    if (unknown !== undefined)
      throw invalid(
        `${where}.${unknown} is not a step field (${stepFields.join(', ')}; docs/workflows.md).`,
        `${where}.${unknown}`,
      );
    if (typeof s.id !== 'string' || !stepIdPattern.test(s.id)) {
      throw invalid(
        `${where}.id must be lower-case letters, digits or _, starting with a letter.`,
        `${where}.id`,
      );
    }
    if (seen.has(s.id))
      throw invalid(`${where}.id "${s.id}" is used twice; step ids must be unique.`, `${where}.id`);
    if (typeof s.actionId !== 'string' || !isUuid(s.actionId))
      throw invalid(`${where}.actionId must be an action id.`, `${where}.actionId`);
    if (s.connectionId != null && (typeof s.connectionId !== 'string' || !isUuid(s.connectionId))) {
      throw invalid(
        `${where}.connectionId must be a connection id or null.`,
        `${where}.connectionId`,
      );
    }
    const onError = s.onError ?? 'fail';
    if (onError !== 'fail' && onError !== 'continue')
      throw invalid(`${where}.onError must be "fail" or "continue".`, `${where}.onError`);
    if (s.if != null && typeof s.if !== 'string')
      throw invalid(`${where}.if must be a mapping expression string.`, `${where}.if`);
    for (const ref of stepReferences(s.input, s.if, where)) assertReachable(ref, seen);
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
  await assertSameTenantReferences(
    db,
    steps.map((step, i) => ({ where: `definition.steps[${i}]`, step })),
  );
  return { steps };
}

/**
 * The definition checked and normalised, by its version (model/workflow-v2.ts
 * `definitionVersionOf`): version 2 when it says `"version": 2`, else version 1 exactly as
 * before. Any other `version` is refused rather than read as version 1.
 */
export async function validateAnyDefinition(
  db: Queryable,
  definition: unknown,
  p: { workflowId: WorkflowId | null },
): Promise<{ steps: StepDefinition[] } | DefinitionV2> {
  if (definitionVersionOf(definition) === 2)
    return (await validateDefinitionV2(db, definition, p)).definition;
  const version = (definition as { version?: unknown } | null)?.version;
  if (
    typeof definition === 'object' &&
    definition !== null &&
    version !== undefined &&
    version !== 1
  )
    throw invalid(
      `definition.version must be 2 (blocks, waits, calls: docs/workflows.md, "Definition version 2") or left out (version 1).`,
      'definition.version',
    );
  return validateDefinition(db, definition);
}

/** What `run.` offers (runner/mapping.ts stepScope); anything else is missing on every run. */
const runFields = ['id', 'attempt', 'time', 'workflowId'];

/** A reference to a later step, to `steps.<id>.<not output>` or to an unknown `run.` field. */
function assertReachable(
  ref: { where: string; path: string; segments: PathSegment[] },
  earlierSteps: Set<string>,
): void {
  const [root, second, third] = ref.segments;
  const fail = (why: string) =>
    invalid(`${ref.where} references "{{ ${ref.path} }}": ${why}`, ref.where);
  if (root === 'steps') {
    if (typeof second !== 'string' || !earlierSteps.has(second))
      throw fail('only steps before this one can be referenced (steps.<id>.output…).');
    if (third !== undefined && third !== 'output')
      throw fail(`a step offers only "output" (steps.${second}.output…).`);
  }
  if (root === 'run' && second !== undefined && !runFields.includes(String(second)))
    throw fail(`run offers ${runFields.join(', ')}.`);
}

/** The references of a step's `input` and `if`, each checked for syntax and root. */
function stepReferences(
  input: unknown,
  condition: unknown,
  where: string,
): Array<{ where: string; path: string; segments: PathSegment[] }> {
  try {
    const refs = checkTemplate(input, `${where}.input`, stepRoots);
    if (typeof condition !== 'string') return refs;
    const literal = condition.trim();
    if (literal === 'true' || literal === 'false') return refs;
    if (condition.includes('{{'))
      return [...refs, ...checkTemplate(condition, `${where}.if`, stepRoots)];
    // A bare path, e.g. `trigger.body.paid` or `trigger.body.paid ?? false`
    // (runner/mapping.ts evaluateCondition).
    return [...refs, ...expressionReferences(literal, `${where}.if`, stepRoots)];
  } catch (err) {
    if (isSwitchyardError(err, 'E_MAPPING_INVALID'))
      throw invalid(err.message, typeof err.details.field === 'string' ? err.details.field : where);
    throw err;
  }
}

export async function createWorkflow(
  db: Queryable,
  tenantId: TenantId,
  p: { name: string; description: string },
): Promise<WorkflowRow> {
  const name = p.name.trim();
  if (name.length === 0 || name.length > 200)
    throw invalid('name must be 1 to 200 characters.', 'name');
  return conflictAsError('workflow', () =>
    insertWorkflow(db, { tenantId, name, description: p.description }),
  );
}

export async function changeWorkflow(
  db: Queryable,
  id: WorkflowId,
  p: { name: string; description: string | null; archived: boolean | null },
): Promise<WorkflowRow> {
  const name = p.name.trim();
  if (name.length === 0 || name.length > 200)
    throw invalid('name must be 1 to 200 characters.', 'name');
  const row = await conflictAsError('workflow', () => updateWorkflow(db, { id, ...p, name }));
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
  const definition = await validateAnyDefinition(db, p.definition, {
    workflowId: p.workflowId,
  });
  const version = await conflictAsError('workflow', () =>
    insertNextVersion(db, {
      tenantId,
      workflowId: p.workflowId,
      definition,
      createdBy: p.createdBy,
    }),
  );
  if (p.publish) await setCurrentVersion(db, { id: p.workflowId, versionId: version.id });
  return version;
}

export async function publishVersion(
  db: Queryable,
  versionId: WorkflowVersionId,
): Promise<WorkflowRow> {
  const version = await selectVersion(db, { id: versionId });
  if (!version) throw new SwitchyardError('E_NOT_FOUND', 'No such workflow version.');
  if (await selectVersionIsTest(db, { id: versionId }))
    throw invalid(
      'This version is a tested draft (testWorkflow), not a saved one: save the draft (saveWorkflowVersion) and publish that.',
      'versionId',
    );
  const row = await setCurrentVersion(db, { id: version.workflowId, versionId });
  if (!row) throw new SwitchyardError('E_NOT_FOUND', 'No such workflow.');
  return row;
}
