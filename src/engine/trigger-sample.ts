/**
 * Trigger samples: the last delivery a trigger received, kept so that a builder can test a
 * draft with real input (docs/workflows.md, "Test before publishing"). A sample is scrubbed of
 * every secret this process knows (as step results are) and bounded: a delivery larger than
 * SAMPLE_MAX_BYTES keeps only its size, so one huge body never bloats the table.
 */
import pg from 'pg';
import { upsertManualTriggerSamples, upsertTriggerSample } from '../db/queries/trigger-samples.ts';
import type { Queryable } from '../db/pool.ts';
import { withTenant } from '../db/tenant.ts';
import type { TenantId, TriggerId, WorkflowId } from '../model/ids.ts';
import type { Logger } from '../observability/logger.ts';
import { scrubValue, secretScrubber, type SecretScrubber } from '../security/scrub.ts';

/** Large enough for any payload a person reads in an editor; 256 KiB of JSON text. */
export const SAMPLE_MAX_BYTES = 256 * 1024;

export type PreparedSample = { payloadJson: string | null; sizeBytes: number };

/** The payload scrubbed and serialised, or null (with its size) when it is too large. */
export function prepareSample(
  payload: unknown,
  scrubber: SecretScrubber = secretScrubber,
): PreparedSample {
  const json = JSON.stringify(scrubValue(payload ?? null, (t) => scrubber.scrub(t)));
  const sizeBytes = Buffer.byteLength(json);
  return { payloadJson: sizeBytes <= SAMPLE_MAX_BYTES ? json : null, sizeBytes };
}

/** Records a trigger's sample in the caller's transaction (tenant scope set), e.g. a cron fire. */
export async function recordTriggerSampleIn(
  db: Queryable,
  p: { tenantId: TenantId; triggerId: TriggerId; payload: unknown; receivedAt: Date },
): Promise<void> {
  await upsertTriggerSample(db, {
    tenantId: p.tenantId,
    triggerId: p.triggerId,
    receivedAt: p.receivedAt,
    ...prepareSample(p.payload),
  });
}

/** The same for the manual triggers of a workflow (a run started by hand). */
export async function recordManualSampleIn(
  db: Queryable,
  p: { tenantId: TenantId; workflowId: WorkflowId; payload: unknown; receivedAt: Date },
): Promise<void> {
  await upsertManualTriggerSamples(db, {
    tenantId: p.tenantId,
    workflowId: p.workflowId,
    receivedAt: p.receivedAt,
    ...prepareSample(p.payload),
  });
}

export type SampleRecorder = {
  /**
   * Records a webhook delivery's sample in its own transaction, off the request's path: the
   * delivery is answered without waiting, and a failure here is logged, never the sender's.
   */
  record(p: { tenantId: TenantId; triggerId: TriggerId; payload: unknown; receivedAt: Date }): void;
  /** Resolves once every sample submitted so far is written (an orderly stop, tests). */
  idle(): Promise<void>;
};

export function createSampleRecorder(pool: pg.Pool, logger: Logger): SampleRecorder {
  const pending = new Set<Promise<void>>();
  return {
    record(p) {
      const write = withTenant(pool, p.tenantId, (db) => recordTriggerSampleIn(db, p))
        .catch((err: unknown) =>
          logger.warn({ triggerId: p.triggerId, err }, 'could not keep the trigger sample'),
        )
        .finally(() => pending.delete(write));
      pending.add(write);
    },
    idle: async () => {
      await Promise.allSettled([...pending]);
    },
  };
}
