import {
  changeWorkflow,
  createWorkflow,
  publishVersion,
  saveVersion,
} from '../../../catalog/workflows.ts';
import {
  selectVersion,
  selectVersions,
  type WorkflowVersionRow,
} from '../../../db/queries/workflow-versions.ts';
import {
  selectWorkflow,
  selectWorkflows,
  selectWorkflowsByIds,
  type WorkflowRow,
} from '../../../db/queries/workflows.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import { isUuid, type WorkflowId, type WorkflowVersionId } from '../../../model/ids.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant, tenantOf } from '../context.ts';
import { pageRef } from '../page-type.ts';
import { nameCursor, pageSize, searchTerm, toPage } from '../pagination.ts';

export const WorkflowVersionRef = builder
  .objectRef<WorkflowVersionRow>('WorkflowVersion')
  .implement({
    description:
      'An immutable definition: the ordered steps. Runs pin the version they started with.',
    fields: (t) => ({
      id: t.exposeID('id'),
      workflowId: t.exposeID('workflowId'),
      version: t.exposeInt('version'),
      definition: t.expose('definition', {
        type: 'JSON',
        description:
          'As saved, defaults filled in. Version 1: `{"steps": [{id, actionId, connectionId, input, if, onError}]}`; version 2: `{"version": 2, "steps": [...], "onFailure": {"steps": [...]}}`, whose steps have a `type` (action, switch, forEach, delay, waitUntil, waitForEvent, callWorkflow) and may nest. The steps and the mapping language are in docs/workflows.md.',
      }),
      createdBy: t.exposeID('createdBy', { nullable: true }),
      createdAt: t.expose('createdAt', { type: 'DateTime' }),
    }),
  });

export const WorkflowRef = builder.objectRef<WorkflowRow>('Workflow').implement({
  description: 'A named, versioned automation.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    archivedAt: t.expose('archivedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    currentVersion: t.field({
      type: WorkflowVersionRef,
      nullable: true,
      resolve: (w, _a, ctx) =>
        w.currentVersionId
          ? inTenant(
              ctx,
              async (db) => (await selectVersion(db, { id: w.currentVersionId! })) ?? null,
            )
          : null,
    }),
    versions: t.field({
      type: [WorkflowVersionRef],
      resolve: (w, _a, ctx) => inTenant(ctx, (db) => selectVersions(db, { workflowId: w.id })),
    }),
  }),
});

const WorkflowPageRef = pageRef('WorkflowPage', WorkflowRef, 'workflows');

builder.queryField('workflows', (t) =>
  t.field({
    type: WorkflowPageRef,
    authScopes: { viewer: true },
    description:
      'By name (case-insensitive), with cursor pagination (`after` = a previous `endCursor`); `search` keeps the names containing it, in any case.',
    args: {
      includeArchived: t.arg.boolean({ required: false }),
      ids: t.arg.idList({
        required: false,
        description:
          'Only these workflows (at most `first`), archived or not: to name the workflows of a page of runs.',
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
      if (ids && (ids.length > limit || !ids.every(isUuid)))
        throw new SwitchyardError(
          'E_VALIDATION',
          `ids must be at most first (${limit}) workflow ids.`,
          {
            field: 'ids',
          },
        );
      return inTenant(ctx, async (db, tenantId) =>
        toPage(
          ids
            ? await selectWorkflowsByIds(db, { ids })
            : await selectWorkflows(db, {
                tenantId,
                includeArchived: args.includeArchived ?? false,
                search,
                after,
                limit: limit + 1,
              }),
          limit,
          (w) => [w.sortKey, w.id],
        ),
      );
    },
  }),
);

builder.queryField('workflow', (t) =>
  t.field({
    type: WorkflowRef,
    nullable: true,
    authScopes: { viewer: true },
    args: { id: t.arg.id() },
    resolve: (_r, args, ctx) =>
      inTenant(
        ctx,
        async (db) => (await selectWorkflow(db, { id: String(args.id) as WorkflowId })) ?? null,
      ),
  }),
);

builder.mutationField('createWorkflow', (t) =>
  t.field({
    type: WorkflowRef,
    authScopes: { editor: true },
    args: { name: t.arg.string(), description: t.arg.string({ required: false }) },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const w = await createWorkflow(db, tenantId, {
          name: args.name,
          description: args.description ?? '',
        });
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'workflow.created',
          targetKind: 'workflow',
          targetId: w.id,
          metadata: { name: w.name },
        });
        return w;
      }),
  }),
);

builder.mutationField('updateWorkflow', (t) =>
  t.field({
    type: WorkflowRef,
    authScopes: { editor: true },
    args: {
      id: t.arg.id(),
      name: t.arg.string(),
      description: t.arg.string({ required: false, description: 'Omitted: unchanged.' }),
      archived: t.arg.boolean({
        required: false,
        description: 'True archives (no new runs start), false unarchives; omitted: unchanged.',
      }),
    },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const w = await changeWorkflow(db, String(args.id) as WorkflowId, {
          name: args.name,
          description: args.description ?? null,
          archived: args.archived ?? null,
        });
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'workflow.updated',
          targetKind: 'workflow',
          targetId: w.id,
          metadata: { name: w.name, archived: w.archivedAt !== null },
        });
        return w;
      }),
  }),
);

builder.mutationField('saveWorkflowVersion', (t) =>
  t.field({
    type: WorkflowVersionRef,
    authScopes: { editor: true },
    description:
      'Validates and stores a new immutable version; `publish: true` also makes it current.',
    args: {
      workflowId: t.arg.id(),
      definition: t.arg({
        type: 'JSON',
        description:
          'Version 1: `{"steps": [{"id", "actionId", "connectionId", "input", "if", "onError"}]}`; version 2: `{"version": 2, "steps": [...], "onFailure": {"steps": [...]}}` with switch, forEach, delay, waitUntil, waitForEvent and callWorkflow steps and `onError: {"goto": "<step id>"}` (docs/workflows.md, "Definition version 2"). Send it as a variable (`$definition: JSON!`), not as JSON text in a string. Checked on save, nested steps included: E_VALIDATION names the field (e.g. `definition.steps[2].branches[0].steps[1].input.to`) and nothing is saved.',
      }),
      publish: t.arg.boolean({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const { userId } = tenantOf(ctx);
      return inTenant(ctx, async (db, tenantId) => {
        const v = await saveVersion(db, tenantId, {
          workflowId: String(args.workflowId) as WorkflowId,
          definition: args.definition,
          createdBy: userId,
          publish: args.publish ?? false,
        });
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: args.publish ? 'workflow.version_published' : 'workflow.version_saved',
          targetKind: 'workflow',
          targetId: v.workflowId,
          metadata: { version: v.version },
        });
        return v;
      });
    },
  }),
);

builder.mutationField('publishWorkflowVersion', (t) =>
  t.field({
    type: WorkflowRef,
    authScopes: { editor: true },
    args: { versionId: t.arg.id() },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const w = await publishVersion(db, String(args.versionId) as WorkflowVersionId);
        if (!w.currentVersionId) throw new SwitchyardError('E_INTERNAL');
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'workflow.version_published',
          targetKind: 'workflow',
          targetId: w.id,
          metadata: { versionId: w.currentVersionId },
        });
        return w;
      }),
  }),
);
