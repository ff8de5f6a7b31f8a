/**
 * Testing a draft before it is published (docs/workflows.md, "Test before publishing"):
 * testWorkflow and testStep start test runs through the real queue and worker; a test run is
 * a WorkflowRun with `isTest: true`, whose steps, logs and errors the run queries return.
 */
import {
  pinnedStepIdsOf,
  stepTestDefinitionOf,
  testDefinitionOf,
  type TestDefinition,
} from '../../../catalog/test-definition.ts';
import type { Queryable } from '../../../db/pool.ts';
import { selectTriggerSample } from '../../../db/queries/trigger-samples.ts';
import { selectTrigger } from '../../../db/queries/triggers.ts';
import { selectRun, type RunRow } from '../../../db/queries/workflow-runs.ts';
import { selectPinnedStepIds } from '../../../db/queries/workflow-versions.ts';
import { selectWorkflow } from '../../../db/queries/workflows.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import type { TenantId, TriggerId, WorkflowId } from '../../../model/ids.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant, principalUserId, type GraphQLContext } from '../context.ts';
import { RunRef } from './runs.ts';

builder.objectField(RunRef, 'isTest', (t) =>
  t.exposeBoolean('isTest', {
    description:
      'A test run of a draft (testWorkflow, testStep): not in metrics, no dead letter, each step tried once, purged after RETENTION_TEST_RUN_HOURS.',
  }),
);

builder.objectField(RunRef, 'pinnedStepIds', (t) =>
  t.stringList({
    description:
      'Test runs: the steps whose pinned output was used instead of calling their action (their logs say so). Empty for other runs.',
    resolve: (r, _a, ctx) =>
      r.isTest
        ? inTenant(ctx, (db) => selectPinnedStepIds(db, { id: r.workflowVersionId }))
        : Promise.resolve([]),
  }),
);

type InputArgs = { input?: unknown; useTriggerSample?: string | number | null | undefined };

/** The run input: given, or the last sample of one of the workflow's triggers. */
async function testInput(
  db: Queryable,
  tenantId: TenantId,
  workflowId: WorkflowId,
  args: InputArgs,
): Promise<{ input: unknown; triggerId: TriggerId | null }> {
  if (args.useTriggerSample == null) return { input: args.input ?? {}, triggerId: null };
  if (args.input != null)
    throw new SwitchyardError('E_VALIDATION', 'Give input or useTriggerSample, not both.', {
      field: 'useTriggerSample',
    });
  const triggerId = String(args.useTriggerSample) as TriggerId;
  const trigger = await selectTrigger(db, { id: triggerId });
  if (!trigger || trigger.workflowId !== workflowId)
    throw new SwitchyardError('E_NOT_FOUND', 'This workflow has no such trigger.', {
      field: 'useTriggerSample',
    });
  const sample = await selectTriggerSample(db, { tenantId, triggerId });
  if (!sample || sample.payload === null)
    throw new SwitchyardError(
      'E_NO_TRIGGER_SAMPLE',
      sample
        ? `The trigger's last delivery was ${sample.sizeBytes} bytes, too large to keep as a sample; pass input instead.`
        : 'The trigger has received nothing yet: send it a delivery (a webhook is kept even while the workflow is unpublished), or pass input instead.',
      { field: 'useTriggerSample', triggerId },
    );
  return { input: sample.payload, triggerId };
}

async function startTest(
  ctx: GraphQLContext,
  workflowIdArg: string | number,
  args: InputArgs,
  definitionOf: (db: Queryable) => Promise<TestDefinition>,
  kind: 'workflow' | 'step',
): Promise<RunRow> {
  const workflowId = String(workflowIdArg) as WorkflowId;
  return inTenant(ctx, async (db, tenantId) => {
    if (!(await selectWorkflow(db, { id: workflowId })))
      throw new SwitchyardError('E_NOT_FOUND', 'No such workflow.', { field: 'workflowId' });
    const definition = await definitionOf(db);
    const { input, triggerId } = await testInput(db, tenantId, workflowId, args);
    const { runId } = await ctx.services.engine.startTestRunIn(db, {
      tenantId,
      workflowId,
      definition,
      input,
      triggerId,
      createdBy: principalUserId(ctx),
    });
    const run = await selectRun(db, { tenantId, runId });
    if (!run) throw new SwitchyardError('E_RUN_NOT_FOUND', 'The test run vanished.');
    // Its outgoing calls are real: who tested what is on the record.
    await recordAudit(db, {
      tenantId,
      ...auditActor(ctx),
      action: 'run.tested',
      targetKind: 'workflow_run',
      targetId: runId,
      metadata: {
        workflowId,
        kind,
        pinned: pinnedStepIdsOf(definition).length,
      },
    });
    return run;
  });
}

builder.mutationField('testWorkflow', (t) =>
  t.field({
    type: RunRef,
    authScopes: { editor: true },
    description:
      'Runs a draft definition (version 1 or 2; not saved or published) as a test run through the real queue and worker, and returns it (`isTest: true`); follow it with `run(id)` or the `runChanged` subscription. Outgoing calls are real, except for pinned steps. Input: `input`, or the last sample of a trigger of the workflow (`useTriggerSample`).',
    args: {
      workflowId: t.arg.id(),
      definition: t.arg({ type: 'JSON' }),
      input: t.arg({ type: 'JSON', required: false }),
      useTriggerSample: t.arg.id({
        required: false,
        description: 'A trigger of this workflow whose last sample is the input.',
      }),
      pinnedOutputs: t.arg({
        type: 'JSON',
        required: false,
        description:
          '`{stepId: output}`: these action steps are not executed, their output is the given JSON (at most 256 KiB each). Version 2: action steps at any depth (in a branch, a loop body — every item gets the pin — or onFailure); blocks, waits and calls cannot be pinned.',
      }),
    },
    resolve: (_r, args, ctx) =>
      startTest(
        ctx,
        args.workflowId,
        args,
        (db) =>
          testDefinitionOf(db, {
            definition: args.definition,
            pinnedOutputs: args.pinnedOutputs,
            workflowId: String(args.workflowId) as WorkflowId,
          }),
        'workflow',
      ),
  }),
);

builder.mutationField('testStep', (t) =>
  t.field({
    type: RunRef,
    authScopes: { editor: true },
    description:
      'Runs one action step of a draft (version 1 or 2; in version 2 at any depth) for real, as a test run: the steps before it are pinned to `stepOutputs` (null where not given) and not called, the steps after it are left out. Version 2: the blocks around the step are not run, so `loop.` and `error.` have no value (docs/workflows.md, "Test before publishing").',
    args: {
      workflowId: t.arg.id(),
      definition: t.arg({ type: 'JSON' }),
      stepId: t.arg.string(),
      input: t.arg({ type: 'JSON', required: false }),
      useTriggerSample: t.arg.id({ required: false }),
      stepOutputs: t.arg({
        type: 'JSON',
        required: false,
        description:
          '`{stepId: output}` of the earlier steps (any kind in version 2, block and wait steps included), as `steps.<id>.output` sees them.',
      }),
    },
    resolve: (_r, args, ctx) =>
      startTest(
        ctx,
        args.workflowId,
        args,
        (db) =>
          stepTestDefinitionOf(db, {
            definition: args.definition,
            stepId: args.stepId,
            stepOutputs: args.stepOutputs,
            workflowId: String(args.workflowId) as WorkflowId,
          }),
        'step',
      ),
  }),
);
