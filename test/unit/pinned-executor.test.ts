/**
 * The pinned-output wrapper (src/cli/pinned-executor.ts): a step carrying `pinnedOutput` is
 * never handed to the real executor; its condition and mapping are evaluated as the runner
 * would, and a mapping it cannot resolve does not defeat the pin.
 */
import { describe, expect, it } from 'vitest';
import { withPinnedOutputs } from '../../src/cli/pinned-executor.ts';
import type { ActionId, RunId, TenantId, WorkflowId } from '../../src/model/ids.ts';
import type { StepExecutor, StepRequest } from '../../src/model/step.ts';
import type { LogSink } from '../../src/runner/types.ts';
import { makeAction } from '../support/runner-harness.ts';

function request(step: Partial<StepRequest['step']>, trigger: unknown = {}): StepRequest {
  return {
    step: { id: 's', actionId: 'a' as ActionId, input: {}, onError: 'fail', ...step },
    action: makeAction(),
    context: {
      tenantId: '00000000-0000-0000-0000-000000000001' as TenantId,
      runId: '00000000-0000-0000-0000-000000000002' as RunId,
      workflowId: '00000000-0000-0000-0000-000000000003' as WorkflowId,
      stepId: 's',
      stepIndex: 0,
      attempt: 1,
      traceparent: null,
      trigger,
      steps: {},
      runStartedAt: new Date(),
    },
  };
}

function setup() {
  const calls: StepRequest[] = [];
  const lines: string[] = [];
  const inner: StepExecutor = {
    execute(r) {
      calls.push(r);
      return Promise.resolve({ status: 'succeeded', input: {}, output: 'real' });
    },
  };
  const sink: LogSink = {
    write(_ctx, l) {
      lines.push(...l.map((x) => `${x.level}: ${x.message}`));
      return Promise.resolve();
    },
  };
  return { calls, lines, executor: withPinnedOutputs(inner, sink) };
}

const signal = new AbortController().signal;

describe('withPinnedOutputs', () => {
  it('passes unpinned steps to the real executor', async () => {
    const t = setup();
    expect(await t.executor.execute(request({}), signal)).toMatchObject({ output: 'real' });
    expect(t.calls).toHaveLength(1);
  });

  it('answers a pinned step with its pin and its mapped input, without calling the action', async () => {
    const t = setup();
    const r = await t.executor.execute(
      request({ pinnedOutput: { id: 7 }, input: { to: '{{ trigger.email }}' } }, { email: 'a@b' }),
      signal,
    );
    expect(r).toEqual({ status: 'succeeded', input: { to: 'a@b' }, output: { id: 7 } });
    expect(t.calls).toHaveLength(0);
    expect(t.lines).toEqual([
      'info: step s pinned: its pinned output was used, the action was not called',
    ]);
  });

  it('still skips a pinned step whose condition is false, and keeps a pin of null', async () => {
    const t = setup();
    expect(
      await t.executor.execute(
        request({ pinnedOutput: 1, if: 'trigger.go' }, { go: false }),
        signal,
      ),
    ).toEqual({ status: 'skipped' });
    expect(await t.executor.execute(request({ pinnedOutput: null }), signal)).toMatchObject({
      status: 'succeeded',
      output: null,
    });
    expect(t.calls).toHaveLength(0);
  });

  it('uses the pin when the input cannot be resolved, and logs why', async () => {
    const t = setup();
    const r = await t.executor.execute(
      request({ pinnedOutput: 'x', input: { n: '{{ trigger.body.order }}' } }, {}),
      signal,
    );
    expect(r).toEqual({ status: 'succeeded', input: null, output: 'x' });
    expect(t.lines[0]).toMatch(/^warn: step s: its input could not be resolved/);
  });
});
