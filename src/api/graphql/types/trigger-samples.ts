/** `Trigger.lastSample`: the last delivery a trigger received, for testing drafts. */
import { selectTriggerSample, type TriggerSampleRow } from '../../../db/queries/trigger-samples.ts';
import { SAMPLE_MAX_BYTES } from '../../../engine/trigger-sample.ts';
import { builder } from '../builder.ts';
import { inTenant } from '../context.ts';
import { TriggerRef } from './triggers.ts';

export const TriggerSampleRef = builder.objectRef<TriggerSampleRow>('TriggerSample').implement({
  description:
    'The last delivery a trigger received: a webhook’s run input (credential headers already dropped), the input of a run started by hand, or a cron fire’s payload. Known secrets are scrubbed.',
  fields: (t) => ({
    payload: t.expose('payload', {
      type: 'JSON',
      nullable: true,
      description: `Null when the delivery was larger than ${SAMPLE_MAX_BYTES} bytes of JSON (only its size is kept).`,
    }),
    sizeBytes: t.exposeInt('sizeBytes'),
    receivedAt: t.expose('receivedAt', { type: 'DateTime' }),
  }),
});

builder.objectField(TriggerRef, 'lastSample', (t) =>
  t.field({
    type: TriggerSampleRef,
    nullable: true,
    // Real data of a real sender: for the people who build workflows, not every viewer.
    authScopes: { editor: true },
    description:
      'The last delivery this trigger received (testWorkflow’s `useTriggerSample`); null before the first. Editors and above.',
    resolve: (tr, _a, ctx) =>
      inTenant(
        ctx,
        async (db, tenantId) =>
          (await selectTriggerSample(db, { tenantId, triggerId: tr.id })) ?? null,
      ),
  }),
);
