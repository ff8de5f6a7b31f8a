/**
 * Validation of a version-2 definition at save (docs/workflows.md, "Definition version 2"):
 * its shape and defaults (definition-v2-shape.ts), its paths and references
 * (definition-v2-references.ts), then what needs the tenant's data: every action step's
 * action and connection (as for version 1, at any depth) and every called workflow.
 * catalog/workflows.ts dispatches here by `definitionVersionOf`.
 */
import type { Queryable } from '../db/pool.ts';
import { selectCalledWorkflows } from '../db/queries/workflow-versions.ts';
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
    if (p.workflowId) await refuseCallCycles(db, p.workflowId, calls);
  }
  return { definition: normalised, steps, shape };
}

/** How far the save follows the calls of called workflows (their current versions). */
const CALL_SEARCH_LIMIT = 200;

/**
 * A call that leads back to the workflow being saved, through the current versions of the
 * workflows it calls (A calls B, whose current version calls A), would start runs without end:
 * refused, naming the chain. Breadth-first, at most CALL_SEARCH_LIMIT workflows looked at; the
 * engine bounds what a save cannot see (a chain of calls at most MAX_CALL_DEPTH runs deep).
 */
async function refuseCallCycles(
  db: Queryable,
  self: WorkflowId,
  calls: Array<{ where: string; step: { workflowId: string } }>,
): Promise<void> {
  for (const { where, step } of calls) {
    // The chain that reached each workflow, from this call's target.
    const via = new Map<string, string[]>([[step.workflowId, [step.workflowId]]]);
    let frontier = [step.workflowId];
    while (frontier.length > 0 && via.size < CALL_SEARCH_LIMIT) {
      const edges = await selectCalledWorkflows(db, { ids: frontier });
      frontier = [];
      for (const { callerId, calledId } of edges) {
        const chain = [...via.get(callerId)!, calledId];
        if (calledId === self) {
          const names = new Map(
            (await selectWorkflowsByIds(db, { ids: chain })).map((w) => [w.id as string, w.name]),
          );
          throw invalid(
            `calls back into this workflow: ${chain.map((id) => (id === self ? 'this workflow' : `"${names.get(id) ?? id}"`)).join(' → ')}; each run would start another without end. Break the cycle: call a workflow that does not call back.`,
            `${where}.workflowId`,
          );
        }
        if (!via.has(calledId)) {
          via.set(calledId, chain);
          frontier.push(calledId);
        }
      }
    }
  }
}
