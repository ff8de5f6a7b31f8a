import { z } from 'zod';
import { boolFlag, positiveInt } from './env.ts';

export const engineSchema = z.object({
  WORKER_CONCURRENCY: positiveInt(64, 1000),
  WORKER_LEASE_MS: positiveInt(30_000),
  WORKER_HEARTBEAT_MS: positiveInt(10_000),
  WORKER_POLL_MS: positiveInt(1_000),
  SHUTDOWN_DEADLINE_MS: positiveInt(25_000),
  TENANT_MAX_CONCURRENCY: positiveInt(50),
  QUEUE_MAX_DEPTH: positiveInt(1_000_000),
  QUEUE_MAX_DEPTH_PER_TENANT: positiveInt(100_000),
  QUEUE_DEPTH_REFRESH_MS: positiveInt(1_000),
  IDEMPOTENCY_KEY_TTL_MS: positiveInt(86_400_000),
  SCHEDULER_POLL_MS: positiveInt(1_000),
  ENGINE_ASYNC_COMMIT: boolFlag(false),
  ENGINE_START_BATCH_MAX: positiveInt(64, 1000),
});

export type EngineConfig = {
  /** Steps one worker process runs at once. */
  workerConcurrency: number;
  /** A claim's lease; a worker that stops renewing it loses the job to another worker. */
  leaseMs: number;
  /** How often a worker renews its leases (default a third of the lease). */
  heartbeatMs: number;
  /** Fallback poll when no notification arrives (a lost NOTIFY only costs this much). */
  pollMs: number;
  /** How long a stopping worker lets in-flight steps finish before it releases them. */
  shutdownDeadlineMs: number;
  tenantMaxConcurrency: number;
  queueMaxDepth: number;
  queueMaxDepthPerTenant: number;
  /** How stale the queue depth that backpressure looks at may be. */
  queueDepthRefreshMs: number;
  idempotencyKeyTtlMs: number;
  schedulerPollMs: number;
  /**
   * Commit step transitions without waiting for the WAL flush: faster, and on a PostgreSQL
   * crash (not a worker crash) the last instants of progress are redone (at-least-once).
   */
  asyncCommit: boolean;
  /**
   * Most run starts (webhooks, the API) one transaction commits together; starts that arrive
   * while a tenant's transaction is in flight wait for the next one. 1: a transaction each.
   */
  startBatchMax: number;
};

export function toEngineConfig(env: z.infer<typeof engineSchema>): EngineConfig {
  return {
    workerConcurrency: env.WORKER_CONCURRENCY,
    leaseMs: env.WORKER_LEASE_MS,
    heartbeatMs: Math.min(env.WORKER_HEARTBEAT_MS, Math.floor(env.WORKER_LEASE_MS / 3)) || 1,
    pollMs: env.WORKER_POLL_MS,
    shutdownDeadlineMs: env.SHUTDOWN_DEADLINE_MS,
    tenantMaxConcurrency: env.TENANT_MAX_CONCURRENCY,
    queueMaxDepth: env.QUEUE_MAX_DEPTH,
    queueMaxDepthPerTenant: env.QUEUE_MAX_DEPTH_PER_TENANT,
    queueDepthRefreshMs: env.QUEUE_DEPTH_REFRESH_MS,
    idempotencyKeyTtlMs: env.IDEMPOTENCY_KEY_TTL_MS,
    schedulerPollMs: env.SCHEDULER_POLL_MS,
    asyncCommit: env.ENGINE_ASYNC_COMMIT,
    startBatchMax: env.ENGINE_START_BATCH_MAX,
  };
}

/** Defaults, for tests and tools that build an engine without the environment. */
export function defaultEngineConfig(overrides: Partial<EngineConfig> = {}): EngineConfig {
  return { ...toEngineConfig(engineSchema.parse({})), ...overrides };
}
