import type { RunId, WorkflowId } from '../../../model/ids.ts';
import type { RunChange } from '../../run-changes.ts';
import { builder } from '../builder.ts';
import { tenantOf } from '../context.ts';

builder.subscriptionType({});

const RunChangeRef = builder.objectRef<RunChange>('RunChange').implement({
  description:
    'A run started (`queued`) or changed status. Refetch what you show of it: changes are signals, not the run.',
  fields: (t) => ({
    runId: t.exposeID('runId'),
    workflowId: t.exposeID('workflowId'),
    status: t.exposeString('status'),
  }),
});

builder.subscriptionField('runChanged', (t) =>
  t.field({
    type: RunChangeRef,
    authScopes: { viewer: true },
    description:
      'The runs of your tenant as they start and change status, over Server-Sent Events (POST /graphql with `Accept: text/event-stream`). Narrow it to one workflow or one run.',
    args: {
      workflowId: t.arg.id({ required: false }),
      runId: t.arg.id({ required: false }),
    },
    subscribe: (_r, args, ctx) =>
      ctx.services.runChanges.subscribe(tenantOf(ctx).tenantId, {
        workflowId: args.workflowId ? (String(args.workflowId) as WorkflowId) : null,
        runId: args.runId ? (String(args.runId) as RunId) : null,
      }),
    resolve: (change) => change,
  }),
);
