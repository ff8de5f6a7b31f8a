import { describe, expect, it } from 'vitest';
import { canonicalJson, hashInput } from '../../src/engine/input-hash.ts';
import { classifyFailure, decideAfterFailure, retryDelayMs } from '../../src/engine/retry.ts';
import { validTraceparent } from '../../src/engine/start-run.ts';
import type { RetryPolicy } from '../../src/model/step.ts';

const exp: RetryPolicy = {
  strategy: 'exponential',
  maxAttempts: 6,
  initialDelayMs: 500,
  maxDelayMs: 5_000,
};

describe('backoff', () => {
  it('exponential is min(maxDelayMs, initialDelayMs * 2^(attempt-1)) without jitter at random() = 0', () => {
    expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(exp, a, () => 0))).toEqual([
      500, 1_000, 2_000, 4_000, 5_000,
    ]);
    expect(retryDelayMs(exp, 6, () => 0)).toBeNull();
  });

  it('jitter takes at most 20% off and never exceeds the cap', () => {
    expect(retryDelayMs(exp, 5, () => 0.999999)).toBe(4_001);
    expect(retryDelayMs(exp, 1, () => 0.5)).toBe(450);
  });

  it('fixed and none', () => {
    const fixed: RetryPolicy = { ...exp, strategy: 'fixed' };
    expect([1, 2, 3].map((a) => retryDelayMs(fixed, a, () => 0))).toEqual([500, 500, 500]);
    expect(retryDelayMs({ ...exp, strategy: 'none' }, 1, () => 0)).toBeNull();
  });

  it('decides: not retryable fails, exhausted dies, Retry-After is a floor', () => {
    const transient = classifyFailure({
      kind: 'step-error',
      error: {
        code: 'E_UPSTREAM_UNAVAILABLE',
        message: '429',
        retryable: true,
        retryAfterMs: 30_000,
      },
    });
    expect(decideAfterFailure(exp, 1, transient, () => 0)).toEqual({
      kind: 'retry',
      delayMs: 30_000,
    });
    expect(decideAfterFailure(exp, 6, transient, () => 0)).toEqual({
      kind: 'give-up',
      status: 'dead',
    });
    const rejected = classifyFailure({
      kind: 'step-error',
      error: { code: 'E_UPSTREAM_REJECTED', message: '400', retryable: false },
    });
    expect(decideAfterFailure(exp, 1, rejected, () => 0)).toEqual({
      kind: 'give-up',
      status: 'failed',
    });
  });

  it('defers a step the runner handed back unrun, whatever the strategy', () => {
    const limited = classifyFailure({
      kind: 'step-error',
      error: { code: 'E_RATE_LIMITED', message: 'wait', retryable: true, retryAfterMs: 750 },
    });
    const none: RetryPolicy = { ...exp, strategy: 'none', maxAttempts: 1 };
    expect(decideAfterFailure(none, 1, limited, () => 0)).toEqual({ kind: 'defer', delayMs: 750 });
  });

  it('classifies every engine-side failure', () => {
    expect(classifyFailure({ kind: 'timeout', timeoutMs: 10 })).toMatchObject({
      code: 'E_STEP_TIMEOUT',
      retryable: true,
    });
    expect(classifyFailure({ kind: 'worker-lost-repeatedly', losses: 4 })).toMatchObject({
      code: 'E_WORKER_LOST_REPEATEDLY',
      message: expect.stringContaining('lost 4 times') as unknown,
      retryable: true,
    });
    expect(classifyFailure({ kind: 'executor-crashed', message: 'x' })).toMatchObject({
      code: 'E_EXECUTOR_CRASHED',
      retryable: true,
    });
    expect(classifyFailure({ kind: 'action-missing', actionId: 'a' })).toMatchObject({
      code: 'E_ACTION_NOT_FOUND',
      retryable: false,
    });
    expect(classifyFailure({ kind: 'invalid-step', message: 'x' })).toMatchObject({
      retryable: false,
    });
  });
});

describe('idempotency payload hash and trace context', () => {
  it('ignores key order, not values', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    expect(hashInput({ a: 1, b: 2 }).equals(hashInput({ b: 2, a: 1 }))).toBe(true);
    expect(hashInput({ a: 1 }).equals(hashInput({ a: '1' }))).toBe(false);
  });

  it('keeps only a valid W3C traceparent', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(validTraceparent(tp)).toBe(tp);
    expect(validTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeNull();
    expect(validTraceparent('nope')).toBeNull();
  });
});
