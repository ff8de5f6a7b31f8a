import { describe, expect, it } from 'vitest';
import { transitionOf, type AttemptPlan, type PendingEnd } from '../../src/engine/outcome.ts';
import type { RunId, StepRunId, TenantId, WorkflowId } from '../../src/model/ids.ts';

/** A version-2 plan at pc 3 (next 4), failure path at pc 8. */
const plan = (over: Partial<AttemptPlan> = {}): AttemptPlan => ({
  tenantId: 't' as TenantId,
  runId: 'r' as RunId,
  workflowId: 'w' as WorkflowId,
  jobId: 1,
  attempt: 1,
  countedAttempts: 1,
  stepIndex: 3,
  stepCount: 10,
  stepId: 'charge',
  onError: 'fail',
  policy: { strategy: 'none', maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
  runInput: { x: 1 },
  outputs: { load: 1 },
  workerId: 'me',
  stepRunId: 's' as StepRunId,
  actionKind: null,
  runCreatedAt: new Date(0),
  attemptStartedAt: new Date(0),
  next: 4,
  errorRoute: { kind: 'fail' },
  failurePc: 8,
  pendingEnd: null,
  ...over,
});

const error = { code: 'E_UPSTREAM_REJECTED', message: 'no', retryable: false };
const failed = { kind: 'failed' as const, error };
const start = (pc: number) => ({ stepId: `#${pc}`, actionId: null });

describe('transitionOf, version 2', () => {
  it('goes to the instruction’s next, or a switch’s chosen pc, starting it there', () => {
    const t = transitionOf(plan(), { kind: 'succeeded', input: {}, output: 2 }, () => 0, start);
    expect(t.job).toEqual({ op: 'advance', nextStepIndex: 4 });
    expect(t.start).toEqual({ stepId: '#4', actionId: null });
    const s = transitionOf(
      plan(),
      {
        kind: 'succeeded',
        input: {},
        output: { branch: 'b' },
        next: 6,
        branch: 'b',
        skip: [['x', 4]],
      },
      () => 0,
      start,
    );
    expect(s.job).toEqual({ op: 'advance', nextStepIndex: 6 });
    expect(s.start).toEqual({ stepId: '#6', actionId: null });
    expect(s.stepRun).toMatchObject({ op: 'finish', status: 'succeeded', branch: 'b' });
    expect(s.skip).toBe('[["x",4]]');
  });

  it('a failure routed by goto advances to the target with {{ error }}; continue goes to next', () => {
    const g = transitionOf(plan({ errorRoute: { kind: 'goto', pc: 7 } }), failed, () => 0, start);
    expect(g.job).toEqual({ op: 'advance', nextStepIndex: 7 });
    expect(JSON.parse(g.errorContext!)).toEqual({
      code: 'E_UPSTREAM_REJECTED',
      message: 'no',
      stepId: 'charge',
    });
    expect(g.finishRun).toBeNull();
    expect(g.deadLetter).toBeNull();
    const c = transitionOf(plan({ errorRoute: { kind: 'continue' } }), failed, () => 0, start);
    expect(c.job).toEqual({ op: 'advance', nextStepIndex: 4 });
    expect(c.errorContext).toBeUndefined();
  });

  it('a failure with a failure path goes there, keeping the original end; the path’s end ends with it', () => {
    const t = transitionOf(plan(), failed, () => 0, start);
    expect(t.job).toEqual({ op: 'advance', nextStepIndex: 8 });
    expect(t.finishRun).toBeNull();
    expect(t.deadLetter).toBeNull();
    const end = JSON.parse(t.pendingEnd!) as PendingEnd;
    expect(end.status).toBe('failed');
    expect(JSON.parse(end.error)).toMatchObject({ code: 'E_UPSTREAM_REJECTED', stepIndex: 3 });
    expect(JSON.parse(end.deadLetter!)).toMatchObject({
      failedStepId: 'charge',
      context: { input: { x: 1 }, steps: { load: 1 }, failedStepIndex: 3 },
    });

    const onPath = plan({ stepIndex: 9, stepId: 'alert', next: 'end', pendingEnd: end });
    const done = transitionOf(onPath, { kind: 'succeeded', input: {}, output: 1 }, () => 0, start);
    expect(done.job).toEqual({ op: 'delete' });
    expect(done.finishRun).toMatchObject({ status: 'failed', error: end.error });
    expect(done.deadLetter).toBe(end.deadLetter);
    // The path failing ends the run the same way (not with the path's own error).
    const broke = transitionOf(onPath, failed, () => 0, start);
    expect(broke.finishRun).toMatchObject({ status: 'failed', error: end.error });
    expect(broke.deadLetter).toBe(end.deadLetter);
  });

  it('a test run ends its failure path without a dead letter', () => {
    const t = transitionOf(plan({ isTest: true }), failed, () => 0, start);
    const end = JSON.parse(t.pendingEnd!) as PendingEnd;
    const done = transitionOf(
      plan({ isTest: true, stepIndex: 9, next: 'end', pendingEnd: end }),
      { kind: 'skipped' },
      () => 0,
      start,
    );
    expect(done.finishRun?.status).toBe('failed');
    expect(done.deadLetter).toBeNull();
  });

  it('a wait makes the StepRun waiting with its deadline; again, or resolved by a resumer, leaves it alone', () => {
    const until = new Date('2030-01-01T00:00:00Z');
    const w = transitionOf(plan(), { kind: 'wait', until, input: { d: 1 } }, () => 0, start);
    expect(w.job).toEqual({ op: 'wait', until });
    expect(w.stepRun).toMatchObject({ op: 'finish', status: 'waiting', waitUntil: until });
    const again = transitionOf(plan(), { kind: 'wait', until, again: true }, () => 0, start);
    expect(again.stepRun).toBeNull();
    const due = transitionOf(
      plan(),
      { kind: 'succeeded', input: undefined, output: 1, fromWaiting: true },
      () => 0,
      start,
    );
    expect(due.stepRun).toMatchObject({ status: 'succeeded', expect: 'waiting' });
    const resumed = transitionOf(
      plan(),
      { kind: 'succeeded', input: undefined, output: 1, recorded: true },
      () => 0,
      start,
    );
    expect(resumed.stepRun).toBeNull();
    expect(resumed.job).toEqual({ op: 'advance', nextStepIndex: 4 });
  });

  it('a version-1 plan (no program fields) still goes to the next index, then ends succeeded', () => {
    const { next: _n, errorRoute: _e, failurePc: _f, ...v1 } = plan({ stepCount: 4 });
    const t = transitionOf(v1, { kind: 'succeeded', input: {}, output: 1 }, () => 0, null);
    expect(t.job).toEqual({ op: 'delete' });
    expect(t.finishRun?.status).toBe('succeeded');
    const f = transitionOf(v1, failed, () => 0, null);
    expect(f.finishRun?.status).toBe('failed');
    expect(f.pendingEnd).toBeUndefined();
  });
});
