/**
 * The composition point of step execution: the engine runs steps through the StepExecutor
 * this returns — the runner (src/runner), wired to the shared state it needs: GCRA rate
 * limits and circuit breakers in PostgreSQL, the execution log, and connections decrypted
 * through the secret box. Each store call is one query function inside withTenant().
 *
 * Without a pool, every step fails at once with E_RUNNER_UNAVAILABLE (not retryable) rather
 * than pretending to succeed.
 */
import type pg from 'pg';
import { runnerSchema, toRunnerConfig, type RunnerConfig } from '../config/runner.ts';
import {
  claimCircuitBreakerProbe,
  recordCircuitBreakerFailure,
  recordCircuitBreakerSuccess,
  selectCircuitBreaker,
} from '../db/queries/circuit-breakers.ts';
import { insertExecutionLogBatch } from '../db/queries/execution-logs.ts';
import { createGroupCommit } from '../engine/group-commit.ts';
import { takeRateLimitSlot } from '../db/queries/rate-limits.ts';
import { tenantStatements, withTenant } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import { dbCall } from './db-call.ts';
import { dbOAuthTokenStore } from './oauth-token-store.ts';
import type { ConnectionId, TenantId } from '../model/ids.ts';
import type { StepExecutor } from '../model/step.ts';
import type { Logger } from '../observability/logger.ts';
import {
  createCircuitBreaker,
  type BreakerKey,
  type BreakerSnapshot,
  type BreakerStore,
  type BreakerWrite,
} from '../runner/breaker.ts';
import { coalescing } from './coalesce.ts';
import { createGate } from '../runner/gate/gate.ts';
import { gcraTiming } from '../runner/rate-limit.ts';
import { createRunner } from '../runner/runner.ts';
import { createPythonSandbox, type PythonSandbox } from '../runner/code/python-sandbox.ts';
import type {
  Clock,
  ConnectionLoader,
  DecryptedConnection,
  LogSink,
  RateLimiter,
} from '../runner/types.ts';
import type { SecretBox } from '../security/crypto/secret-box.ts';
import { readConnectionSecret } from '../security/secrets/connections.ts';
import { selectConnectionForStep } from '../db/queries/connections.ts';

export { dbCall } from './db-call.ts';

export type ExecutorDeps = {
  logger: Logger;
  /** The runtime pool; without it the placeholder executor is returned. */
  pool?: pg.Pool;
  /** config.runner; defaults to the documented defaults. */
  config?: RunnerConfig;
  /** Decrypts connection secrets; without it, connections with secrets cannot be used. */
  secretBox?: SecretBox;
  clock?: Clock;
  /** The process's Python sandbox (its warm pool, its readiness); made from config if absent. */
  python?: PythonSandbox;
};

/** The Python sandbox of a worker process, its self-check started now (warm pool filled). */
export function startPythonSandbox(config: RunnerConfig, logger: Logger): PythonSandbox {
  const sandbox = createPythonSandbox({
    pythonPath: config.code.pythonPath,
    bwrapPath: config.code.bwrapPath,
    warmPoolSize: config.code.warmPoolSize,
    logger,
  });
  void sandbox.status();
  return sandbox;
}

const systemClock: Clock = { now: () => new Date() };

export function createStepExecutor(deps: ExecutorDeps): StepExecutor {
  if (!deps.pool) return unavailable();
  const pool = deps.pool;
  const config = deps.config ?? toRunnerConfig(runnerSchema.parse({}));
  const clock = deps.clock ?? systemClock;
  return createRunner({
    gate: createGate(config.gate),
    connections: dbConnectionLoader(pool, deps.secretBox),
    oauthTokens: dbOAuthTokenStore(pool, deps.secretBox, deps.logger),
    rateLimiter: dbRateLimiter(pool),
    breaker: createCircuitBreaker({
      store: dbBreakerStore(pool),
      failureThreshold: config.breaker.failureThreshold,
      cooldownMs: config.breaker.cooldownMs,
      // Reported once per change, by the write that made it (breaker.ts).
      onStateChange: (key, from, to) =>
        deps.logger.info(
          { host: key.host, tenantId: key.tenantId, connectionId: key.connectionId, from, to },
          'circuit breaker state changed',
        ),
    }),
    logSink: dbLogSink(pool, clock),
    clock,
    logger: deps.logger,
    code: config.code,
    // Without one from the command, the sandbox starts (and fills its pool) on the first
    // Python step: executors made in tests and tools spawn nothing they do not use.
    python:
      deps.python ??
      createPythonSandbox({
        pythonPath: config.code.pythonPath,
        bwrapPath: config.code.bwrapPath,
        warmPoolSize: config.code.warmPoolSize,
        logger: deps.logger,
      }),
    ...(deps.secretBox ? { scrubber: deps.secretBox.scrubber } : {}),
  });
}

function unavailable(): StepExecutor {
  return {
    execute() {
      return Promise.resolve({
        status: 'failed',
        error: {
          code: 'E_RUNNER_UNAVAILABLE',
          message: 'The runner is not installed yet: this build cannot execute steps.',
          retryable: false,
        },
      });
    },
  };
}

export function dbRateLimiter(pool: pg.Pool): RateLimiter {
  return {
    async acquire(p) {
      const { intervalMs, burstMs } = gcraTiming(p);
      const r = await dbCall('the rate limiter', () =>
        withTenant(pool, p.tenantId, (c) =>
          takeRateLimitSlot(c, { tenantId: p.tenantId, key: p.key, intervalMs, burstMs }),
        ),
      );
      if (r.allowed) return { allowed: true };
      // A wait of 0 means the snapshot was stale (a concurrent taker): ask again one interval on.
      return { allowed: false, retryAfterMs: Math.max(1, Math.ceil(r.waitMs || intervalMs)) };
    },
  };
}

export function dbBreakerStore(pool: pg.Pool): BreakerStore {
  const k = (key: BreakerKey) => ({
    tenantId: key.tenantId,
    host: key.host,
    connectionKey: key.connectionId ?? '',
  });
  const id = (key: BreakerKey) => `${key.tenantId}\u0000${key.host}\u0000${key.connectionId ?? ''}`;
  const inTenant = <T>(key: BreakerKey, fn: (c: pg.PoolClient) => Promise<T>) =>
    dbCall('the circuit breaker', () => withTenant(pool, key.tenantId, fn));
  // Every HTTP step reads its breaker before the call and records its success after: the steps
  // calling one host together share one read and one write (coalesce.ts).
  const read = coalescing<BreakerKey, BreakerSnapshot | null>(id, async (keys) => {
    const s = await inTenant(keys[0]!, (c) => selectCircuitBreaker(c, k(keys[0]!)));
    return keys.map(() => s);
  });
  const success = coalescing<{ key: BreakerKey; retry: boolean }, BreakerWrite>(
    (i) => id(i.key),
    async (items) => {
      const key = items[0]!.key;
      // A retry's success is remembered (breaker.ts): the write is a retry's if any was.
      const retry = items.some((i) => i.retry);
      const w = (await inTenant(key, (c) =>
        recordCircuitBreakerSuccess(c, { ...k(key), retry }),
      )) ?? {
        state: 'closed',
        previous: 'closed',
        failures: 0,
        openUntil: null,
        probes: 0,
        now: new Date(),
      };
      // The change is reported once (to the first caller); the others saw it made.
      return items.map((_, n) => (n === 0 ? w : { ...w, previous: w.state }));
    },
  );
  return {
    read,
    claimProbe: (key, p) => inTenant(key, (c) => claimCircuitBreakerProbe(c, { ...k(key), ...p })),
    recordSuccess: (key, p) => success({ key, retry: p.retry }),
    recordFailure: (key, p) =>
      inTenant(key, (c) => recordCircuitBreakerFailure(c, { ...k(key), ...p })),
  };
}

/**
 * Execution-log lines are linked to the attempt's step run, and carry step id and attempt in
 * `data`. The lines of the steps (of one tenant) that end together are written by one
 * statement in one transaction (group commit): one commit per batch, not one per step, and
 * without waiting for the WAL flush (the step's transition, committed after, flushes them).
 */
export function dbLogSink(pool: pg.Pool, clock: Clock): LogSink {
  type Line = Parameters<typeof insertExecutionLogBatch>[1]['lines'][number];
  const batches = createGroupCommit<Line[], void>({
    maxItems: 256,
    commit: async (tenantId, items) => {
      // The statement is its whole transaction: one round trip (tenantStatements).
      await insertExecutionLogBatch(tenantStatements(pool, tenantId), {
        tenantId,
        lines: items.flat(),
        relaxDurability: true,
      });
      return items.map(() => ({ ok: true as const, value: undefined }));
    },
  });
  return {
    async write(ctx, lines) {
      if (lines.length === 0) return;
      const loggedAt = clock.now();
      const rows = lines.map((l): Line => ({
        runId: ctx.runId,
        stepRunId: ctx.stepRunId ?? null,
        level: l.level,
        message: l.message,
        data: {
          stepId: ctx.stepId,
          attempt: ctx.attempt,
          ...(l.data !== undefined ? { data: l.data } : {}),
        },
        loggedAt,
      }));
      await batches.submit(
        ctx.tenantId,
        rows,
        rows.reduce((n, r) => n + r.message.length, 0),
      );
    },
  };
}

export function dbConnectionLoader(pool: pg.Pool, box: SecretBox | undefined): ConnectionLoader {
  return {
    load(tenantId, connectionId) {
      return dbCall('loading the connection', () => loadConnection(tenantId, connectionId));
    },
  };

  function loadConnection(
    tenantId: TenantId,
    connectionId: ConnectionId,
  ): Promise<DecryptedConnection> {
    return withTenant(pool, tenantId, async (c) => {
      const row = await selectConnectionForStep(c, { tenantId, id: connectionId });
      if (!row)
        throw new SwitchyardError(
          'E_CONNECTION_INVALID',
          `The step's connection ${connectionId} does not exist`,
        );
      if (row.status === 'needs_reauth')
        throw new SwitchyardError(
          'E_CONNECTION_NEEDS_REAUTH',
          `Connection ${connectionId} must be connected again: ${row.statusReason ?? 'its OAuth grant was refused'}`,
          { connectionId },
        );
      let secret: Record<string, string> = {};
      if (row.hasSecret) {
        if (!box)
          throw new SwitchyardError(
            'E_CONNECTION_INVALID',
            'This process cannot decrypt connection secrets (no key provider configured)',
          );
        const raw = await readConnectionSecret(c, box, { tenantId, connectionId });
        secret = Object.fromEntries(
          Object.entries(raw ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'),
        );
      }
      const conn: DecryptedConnection = {
        id: connectionId,
        appId: row.appId,
        authKind: row.authKind,
        authConfig: row.authConfig,
        config: row.config,
        secret,
      };
      return conn;
    });
  }
}
