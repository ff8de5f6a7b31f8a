/** Builds a runner wired to in-memory stores and a gate that allows the given local servers. */
import { randomUUID } from 'node:crypto';
import type { GateConfig } from '../../src/config/runner.ts';
import type {
  ActionId,
  AppId,
  ConnectionId,
  RunId,
  TenantId,
  WorkflowId,
} from '../../src/model/ids.ts';
import type {
  ActionSpec,
  ExecutionLogLine,
  StepContext,
  StepDefinition,
  StepExecutor,
  StepRequest,
} from '../../src/model/step.ts';
import {
  createCircuitBreaker,
  createMemoryBreakerStore,
  type CircuitBreaker,
} from '../../src/runner/breaker.ts';
import { createGate, type Gate } from '../../src/runner/gate/gate.ts';
import type { PythonSandbox } from '../../src/runner/code/python-sandbox.ts';
import { createMemoryRateLimiter } from '../../src/runner/rate-limit.ts';
import { createRunner } from '../../src/runner/runner.ts';
import type { Clock, DecryptedConnection, RateLimiter } from '../../src/runner/types.ts';
import type { SecretScrubber } from '../../src/security/scrub.ts';
import { testLogger } from './db.ts';

/** The executor's code-step settings for tests: small limits, Debian's bwrap, no warm pool. */
export function codeConfig(over: { timeoutMs?: number; memoryLimitMb?: number } = {}) {
  return {
    memoryLimitMb: 32,
    timeoutMs: 2_000,
    pythonPath: 'python3',
    bwrapPath: '/usr/bin/bwrap',
    warmPoolSize: 0,
    maxConcurrent: 16,
    ...over,
  };
}

export function gateConfig(allowHttpHosts: string[], over: Partial<GateConfig> = {}): GateConfig {
  return {
    connectTimeoutMs: 2_000,
    headersTimeoutMs: 2_000,
    totalTimeoutMs: 5_000,
    maxResponseBytes: 1024 * 1024,
    allowHttpHosts,
    ...over,
  };
}

export class TestClock implements Clock {
  t: number;
  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.t = start;
  }
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export type Harness = {
  runner: StepExecutor;
  logs: { ctx: StepContext; lines: ExecutionLogLine[] }[];
  connections: Map<string, DecryptedConnection>;
  clock: Clock;
  breaker: CircuitBreaker;
};

export function makeHarness(
  o: {
    allow?: string[];
    gate?: Gate;
    clock?: Clock;
    rateLimiter?: RateLimiter;
    breaker?: CircuitBreaker;
    code?: { memoryLimitMb?: number; timeoutMs?: number; pythonPath?: string; bwrapPath?: string };
    /** A shared Python sandbox (warm pool); by default the runner makes its own, cold. */
    python?: PythonSandbox;
    /** Stands in for the process-wide scrubber (every secret the process decrypted). */
    scrubber?: SecretScrubber;
  } = {},
): Harness {
  const clock = o.clock ?? { now: () => new Date() };
  const logs: Harness['logs'] = [];
  const connections = new Map<string, DecryptedConnection>();
  const breaker =
    o.breaker ??
    createCircuitBreaker({
      store: createMemoryBreakerStore(clock),
      failureThreshold: 100,
      cooldownMs: 1_000,
    });
  const runner = createRunner({
    gate: o.gate ?? createGate(gateConfig(o.allow ?? [])),
    connections: {
      load(_tenantId, id) {
        const c = connections.get(id);
        if (!c) return Promise.reject(new Error(`no connection ${id}`));
        return Promise.resolve(c);
      },
    },
    rateLimiter: o.rateLimiter ?? createMemoryRateLimiter(clock),
    breaker,
    logSink: {
      write(ctx, lines) {
        logs.push({ ctx, lines });
        return Promise.resolve();
      },
    },
    clock,
    logger: testLogger,
    code: { memoryLimitMb: 32, timeoutMs: 2_000, pythonPath: 'python3', ...o.code },
    ...(o.python ? { python: o.python } : {}),
    ...(o.scrubber ? { scrubber: o.scrubber } : {}),
  });
  return { runner, logs, connections, clock, breaker };
}

export function makeAction(over: Partial<ActionSpec> = {}): ActionSpec {
  return {
    id: randomUUID() as ActionId,
    appId: randomUUID() as AppId,
    appKey: 'test',
    key: 'test',
    kind: 'http',
    inputSchema: {},
    outputSchema: {},
    implementation: { method: 'GET', path: '/' },
    baseUrl: null,
    retry: { strategy: 'exponential', maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 1_000 },
    timeoutMs: 5_000,
    rateLimit: null,
    ...over,
  };
}

export function makeContext(over: Partial<StepContext> = {}): StepContext {
  return {
    tenantId: randomUUID() as TenantId,
    runId: randomUUID() as RunId,
    workflowId: randomUUID() as WorkflowId,
    stepId: 'step1',
    stepIndex: 0,
    attempt: 1,
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    trigger: { body: {}, headers: {}, query: {} },
    steps: {},
    runStartedAt: new Date('2026-01-01T00:00:00Z'),
    ...over,
  };
}

export function makeRequest(
  o: {
    action?: Partial<ActionSpec>;
    step?: Partial<StepDefinition>;
    context?: Partial<StepContext>;
  } = {},
): StepRequest {
  return {
    action: makeAction(o.action),
    step: {
      id: 'step1',
      actionId: randomUUID() as ActionId,
      input: {},
      onError: 'fail',
      ...o.step,
    },
    context: makeContext(o.context),
  };
}

export function addConnection(
  h: Harness,
  c: Partial<DecryptedConnection> & Pick<DecryptedConnection, 'authKind'>,
): ConnectionId {
  const id = randomUUID() as ConnectionId;
  h.connections.set(id, {
    id,
    appId: randomUUID() as AppId,
    authConfig: {},
    config: {},
    secret: {},
    ...c,
  });
  return id;
}

export const never = new AbortController().signal;
