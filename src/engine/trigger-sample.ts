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
   * Keeps a webhook delivery as its trigger's sample, off the request's path: the delivery is
   * answered without waiting, and a failure here is logged, never the sender's.
   */
  record(p: SampleInput): void;
  /** Resolves once every sample submitted so far is written (an orderly stop, tests). */
  idle(): Promise<void>;
};

type SampleInput = { tenantId: TenantId; triggerId: TriggerId; payload: unknown; receivedAt: Date };

/** A trigger's sample is written at most once per this many ms; the newest delivery wins. */
export const SAMPLE_WRITE_INTERVAL_MS = 250;

/**
 * Latest wins, one write per trigger at a time: a delivery to a quiet trigger is written at
 * once; deliveries that arrive while one is written (or within SAMPLE_WRITE_INTERVAL_MS after)
 * replace each other in memory, and only the newest is scrubbed and written when the interval
 * ends. Under a burst of webhooks a trigger costs a few writes a second instead of one
 * transaction (and one row version of the same row, each waiting on the previous one's lock)
 * per delivery. The sample is still the last delivery received.
 */
export function createSampleRecorder(
  pool: pg.Pool,
  logger: Logger,
  intervalMs = SAMPLE_WRITE_INTERVAL_MS,
): SampleRecorder {
  // A lane exists while its trigger's write is in flight or waits out the interval.
  type Lane = { next: SampleInput | null; timer: NodeJS.Timeout | null };
  const lanes = new Map<string, Lane>();
  const idleWaiters: (() => void)[] = [];
  const settle = () => {
    if (lanes.size > 0) return;
    for (const resolve of idleWaiters.splice(0)) resolve();
  };
  const write = (key: string, lane: Lane): void => {
    const p = lane.next!;
    lane.next = null;
    withTenant(pool, p.tenantId, (db) => recordTriggerSampleIn(db, p))
      .catch((err: unknown) =>
        logger.warn({ triggerId: p.triggerId, err }, 'could not keep the trigger sample'),
      )
      .finally(() => {
        // Nothing newer: the lane ends. Newer: it is written once the interval is over, or at
        // once when someone waits for the samples to be written.
        if (!lane.next) {
          lanes.delete(key);
          settle();
        } else if (idleWaiters.length > 0) write(key, lane);
        else lane.timer = setTimeout(() => flush(key, lane), intervalMs).unref();
      });
  };
  const flush = (key: string, lane: Lane): void => {
    lane.timer = null;
    if (lane.next) write(key, lane);
  };
  return {
    record(p) {
      const key = `${p.tenantId}:${p.triggerId}`;
      const lane = lanes.get(key);
      if (!lane) {
        const fresh: Lane = { next: p, timer: null };
        lanes.set(key, fresh);
        write(key, fresh);
        return;
      }
      if (!lane.next || lane.next.receivedAt <= p.receivedAt) lane.next = p;
    },
    idle: () =>
      new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        // Pending samples waiting out their interval are written now.
        for (const [key, lane] of lanes) {
          if (lane.timer) {
            clearTimeout(lane.timer);
            flush(key, lane);
          }
        }
        settle();
      }),
  };
}
