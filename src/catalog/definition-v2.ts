/**
 * Validation of a version-2 definition at save (docs/workflows.md, "Definition version 2"):
 * its shape and defaults (definition-v2-shape.ts), its paths and references
 * (definition-v2-references.ts), then what needs the tenant's data: every action step's
 * action and connection (as for version 1, at any depth) and every called workflow.
 * catalog/workflows.ts dispatches here by `definitionVersionOf`.
 */
import type { Queryable } from '../db/pool.ts';
import { selectWorkflowsByIds } from '../db/queries/workflows.ts';
import type { WorkflowId } from '../model/ids.ts';
import type { StepDefinition } from '../model/step.ts';
import type { ActionStepV2, DefinitionV2 } from '../model/workflow-v2.ts';
import { checkPathsV2 } from './definition-v2-references.ts';
import { checkShapeV2, invalid, type ShapeResult } from './definition-v2-shape.ts';
import { assertSameTenantReferences } from './step-references.ts';

export type CheckedDefinitionV2 = {
  definition: DefinitionV2;
  /** Every step with its JSON path, in pc order (steps at any depth, onFailure last). */
  steps: Array<{ where: string; step: DefinitionV2['steps'][number] }>;
};

/** The checks that need no database: shape, defaults, gotos, reachability, references. */
export function checkDefinitionV2(
  definition: unknown,
): CheckedDefinitionV2 & { shape: ShapeResult } {
  const shape = checkShapeV2(definition);
  checkPathsV2(shape);
  return {
    shape,
    definition: shape.normalised,
    steps: shape.nodes.map((n) => ({ where: n.path, step: n.step })),
  };
}

/**
 * The whole check. `workflowId`: the workflow being saved (or tested), which a callWorkflow
 * step may not call: a direct self-call would start runs of itself without end.
 */
export async function validateDefinitionV2(
  db: Queryable,
  definition: unknown,
  p: { workflowId: WorkflowId | null },
): Promise<CheckedDefinitionV2 & { shape: ShapeResult }> {
  const { definition: normalised, steps, shape } = checkDefinitionV2(definition);
  const actions = steps.flatMap(({ where, step }) =>
    step.type === 'action' ? [{ where, step: step as ActionStepV2 & StepDefinition }] : [],
  );
  await assertSameTenantReferences(db, actions);
  const calls = steps.flatMap(({ where, step }) =>
    step.type === 'callWorkflow' ? [{ where, step: step }] : [],
  );
  if (calls.length > 0) {
    // Row security: only this tenant's workflows come back.
    const known = new Map(
      (await selectWorkflowsByIds(db, { ids: calls.map((c) => c.step.workflowId) })).map((w) => [
        w.id as string,
        w,
      ]),
    );
    for (const { where, step } of calls) {
      if (step.workflowId === p.workflowId)
        throw invalid(
          'a workflow cannot call itself (each run would start another without end); move the repeated part into a workflow of its own, or loop with forEach.',
          `${where}.workflowId`,
        );
      const called = known.get(step.workflowId);
      if (!called) throw invalid('no such workflow in this tenant.', `${where}.workflowId`);
      // Unpublished is fine (it may be published before a run gets there); archived starts
      // no runs until someone brings it back, so a call to it is a mistake today.
      if (called.archivedAt)
        throw invalid(
          `the workflow "${called.name}" is archived and starts no runs; unarchive it (updateWorkflow) or call another.`,
          `${where}.workflowId`,
        );
    }
  }
  return { definition: normalised, steps, shape };
}
