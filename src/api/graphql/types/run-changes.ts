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
    subscribe: (_r, args, ctx) => {
      const changes = ctx.services.runChanges.subscribe(tenantOf(ctx).tenantId, {
        workflowId: args.workflowId ? (String(args.workflowId) as WorkflowId) : null,
        runId: args.runId ? (String(args.runId) as RunId) : null,
      });
      // Ends with its HTTP response: a client that goes before its stream is first read is
      // not told to yoga's iterator (never started), and would hold its place for 10 minutes.
      const res = ctx.reply.raw;
      const end = () => void changes.return?.();
      if (res.closed || res.socket?.destroyed !== false) end();
      else res.once('close', end);
      return changes;
    },
    resolve: (change) => change,
  }),
);
