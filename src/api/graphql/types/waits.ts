/**
 * resumeRun: resumes a run waiting at a `waitForEvent` step (engine/resume.ts). The token is
 * the capability (it names the run, the step and the tenant); the role is the authority: an
 * editor may start, cancel and replay runs, so an editor may resume one. A viewer holding a
 * token can still use the resume webhook, which is the token's own door.
 */
import { selectRun } from '../../../db/queries/workflow-runs.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import type { RunId } from '../../../model/ids.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant, tenantOf } from '../context.ts';
import { RunRef } from './runs.ts';

builder.mutationField('resumeRun', (t) =>
  t.field({
    type: RunRef,
    authScopes: { editor: true },
    description:
      'Resumes a run waiting at a `waitForEvent` step: `token` is that step’s `{{ run.waits.<stepId>.token }}`; `payload` (JSON, at most the webhook body limit) becomes the step’s output. A wait takes one payload: a second resume, or one after the timeout, answers E_WAIT_NOT_WAITING.',
    args: {
      runId: t.arg.id(),
      token: t.arg.string(),
      payload: t.arg({ type: 'JSON', required: false }),
    },
    resolve: async (_r, args, ctx) => {
      const { tenantId } = tenantOf(ctx);
      const resume = ctx.services.resume;
      if (!resume) throw new SwitchyardError('E_RUNNER_UNAVAILABLE', 'Resuming is not wired here.');
      const a = auditActor(ctx);
      const runId = String(args.runId) as RunId;
      await resume({
        tenantId,
        runId,
        token: args.token,
        payload: args.payload ?? null,
        actor: { kind: a.actorKind, id: a.actorId, ip: a.ip, requestId: a.requestId },
      });
      const run = await inTenant(ctx, (db) => selectRun(db, { tenantId, runId }));
      if (!run) throw new SwitchyardError('E_RUN_NOT_FOUND', 'No such run.');
      return run;
    },
  }),
);
