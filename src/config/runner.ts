import { z } from 'zod';
import { boolFlag, positiveInt } from './env.ts';

/** Host names or IP literals with a port, e.g. `127.0.0.1:8080,localhost:3001`. */
const hostPortList = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ''),
  )
  .refine(
    (list) => list.every((e) => /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):\d{1,5}$/.test(e)),
    'expected a comma-separated list of host:port (e.g. 127.0.0.1:8080,[::1]:8080)',
  );

/** Code steps one process runs at once unless CODE_MAX_CONCURRENT says otherwise. */
export const CODE_MAX_CONCURRENT_DEFAULT = 16;

export const runnerSchema = z.object({
  GATE_CONNECT_TIMEOUT_MS: positiveInt(5_000, 120_000),
  GATE_HEADERS_TIMEOUT_MS: positiveInt(15_000, 600_000),
  GATE_TOTAL_TIMEOUT_MS: positiveInt(30_000, 3_600_000),
  GATE_MAX_RESPONSE_BYTES: positiveInt(10 * 1024 * 1024, 1024 * 1024 * 1024),
  GATE_ALLOW_HTTP_HOSTS: hostPortList,
  CODE_MEMORY_LIMIT_MB: positiveInt(64, 4096),
  CODE_TIMEOUT_MS: positiveInt(5_000, 600_000),
  CODE_MAX_CONCURRENT: positiveInt(CODE_MAX_CONCURRENT_DEFAULT, 1000),
  CODE_JS_COMPARTMENTS: boolFlag(true),
  PYTHON_PATH: z.string().min(1).default('python3'),
  PYTHON_BWRAP_PATH: z.string().min(1).default('/usr/bin/bwrap'),
  PYTHON_WARM_POOL_SIZE: z.coerce.number().int().min(0).max(64).default(2),
  BREAKER_FAILURE_THRESHOLD: positiveInt(5, 1000),
  BREAKER_COOLDOWN_MS: positiveInt(30_000, 3_600_000),
});

export type GateConfig = {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  totalTimeoutMs: number;
  maxResponseBytes: number;
  /** host:port entries that may use plain HTTP and connect to a loopback address. */
  allowHttpHosts: string[];
};

export type RunnerConfig = {
  gate: GateConfig;
  code: {
    memoryLimitMb: number;
    timeoutMs: number;
    pythonPath: string;
    /** bubblewrap, the boundary of Python steps (ADR 0007). */
    bwrapPath: string;
    /** Sandboxed interpreters started ahead of Python steps. */
    warmPoolSize: number;
    /** Code steps (JavaScript and Python) one process runs at once; the rest wait. */
    maxConcurrent: number;
    /**
     * JavaScript steps whose code allows it run in compartments of a hardened context instead
     * of a fresh context each (ADR 0009, amended in stop 27).
     */
    jsCompartments?: boolean;
  };
  breaker: { failureThreshold: number; cooldownMs: number };
};

export function toRunnerConfig(env: z.infer<typeof runnerSchema>): RunnerConfig {
  return {
    gate: {
      connectTimeoutMs: env.GATE_CONNECT_TIMEOUT_MS,
      headersTimeoutMs: env.GATE_HEADERS_TIMEOUT_MS,
      totalTimeoutMs: env.GATE_TOTAL_TIMEOUT_MS,
      maxResponseBytes: env.GATE_MAX_RESPONSE_BYTES,
      allowHttpHosts: env.GATE_ALLOW_HTTP_HOSTS,
    },
    code: {
      memoryLimitMb: env.CODE_MEMORY_LIMIT_MB,
      timeoutMs: env.CODE_TIMEOUT_MS,
      pythonPath: env.PYTHON_PATH,
      bwrapPath: env.PYTHON_BWRAP_PATH,
      warmPoolSize: env.PYTHON_WARM_POOL_SIZE,
      maxConcurrent: env.CODE_MAX_CONCURRENT,
      jsCompartments: env.CODE_JS_COMPARTMENTS,
    },
    breaker: {
      failureThreshold: env.BREAKER_FAILURE_THRESHOLD,
      cooldownMs: env.BREAKER_COOLDOWN_MS,
    },
  };
}
