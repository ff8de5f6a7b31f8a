import { describe, expect, it } from 'vitest';
import { compileProgram, parseDuration } from '../../src/model/compile-program.ts';
import type { Instruction } from '../../src/model/program.ts';

const A = '11111111-1111-4111-8111-111111111111';
const act = (id: string, extra: Record<string, unknown> = {}) => ({ id, actionId: A, ...extra });

/** The fields a test looks at: kind, step id, next, and the kind's own when asked. */
const shape = (i: Instruction) => [i.pc, i.kind, i.stepId, i.next];

describe('compileProgram, version 1', () => {
  it('is the steps in order, next = pc + 1, the last to the end; onError and if kept', () => {
    const p = compileProgram({
      steps: [act('a'), act('b', { onError: 'continue', if: '{{ trigger.x }}' }), act('c')],
    });
    expect(p.version).toBe(1);
    expect(p.failurePc).toBeNull();
    expect(p.instructions.map(shape)).toEqual([
      [0, 'action', 'a', 1],
      [1, 'action', 'b', 2],
      [2, 'action', 'c', 'end'],
    ]);
    expect(p.instructions[1]).toMatchObject({
      onError: { kind: 'continue' },
      if: '{{ trigger.x }}',
      path: 'definition.steps[1]',
      loopPc: null,
      step: { id: 'b', actionId: A, input: {}, onError: 'continue', connectionId: null },
    });
    expect(p.instructions[0]!.onError).toEqual({ kind: 'fail' });
  });

  it('an unexpected shape is an invalid instruction (its step fails with the message), others compile', () => {
    const p = compileProgram({ steps: [act('a'), 'nope', { id: 'c' }] });
    expect(p.instructions.map(shape)).toEqual([
      [0, 'action', 'a', 1],
      [1, 'invalid', '#1', 2],
      [2, 'invalid', '#2', 'end'],
    ]);
    expect(p.instructions[2]).toMatchObject({ message: 'Step c has no actionId.' });
    expect(compileProgram(null).instructions).toEqual([]);
    expect(compileProgram({ steps: 'x' }).instructions).toEqual([]);
  });
});

describe('compileProgram, version 2', () => {
  const definition = {
    version: 2,
    steps: [
      act('fetch'),
      {
        id: 'route',
        type: 'switch',
        branches: [
          { name: 'big', when: '{{ steps.fetch.output.big }}', steps: [act('b1'), act('b2')] },
          { name: 'empty', when: '{{ trigger.empty }}', steps: [] },
        ],
        default: { steps: [{ id: 'pause', type: 'delay', duration: '1h30m' }] },
      },
      {
        id: 'each',
        type: 'forEach',
        items: '{{ trigger.items }}',
        concurrency: 5,
        steps: [
          act('one'),
          {
            id: 'inner',
            type: 'switch',
            branches: [{ name: 'x', when: 'true', steps: [act('two')] }],
          },
        ],
      },
      act('last', { onError: { goto: 'after' } }),
      act('skipped_by_goto'),
      act('after'),
    ],
    onFailure: {
      steps: [act('notify'), { id: 'wait', type: 'waitForEvent', onTimeout: 'continue' }],
    },
  };
  const p = compileProgram(definition);

  it('lays the blocks out pre-order, each body after its block, then the failure path', () => {
    expect(p.version).toBe(2);
    expect(p.instructions.map(shape)).toEqual([
      [0, 'action', 'fetch', 1],
      [1, 'switch', 'route', 5],
      [2, 'action', 'b1', 3],
      [3, 'action', 'b2', 5],
      [4, 'delay', 'pause', 5],
      [5, 'forEach', 'each', 9],
      [6, 'action', 'one', 7],
      [7, 'switch', 'inner', 'item-end'],
      [8, 'action', 'two', 'item-end'],
      [9, 'action', 'last', 10],
      [10, 'action', 'skipped_by_goto', 11],
      [11, 'action', 'after', 'end'],
      [12, 'action', 'notify', 13],
      [13, 'waitForEvent', 'wait', 'end'],
    ]);
  });

  it('switch: branches with their first pc (an empty one goes to the join), default, bodies', () => {
    expect(p.instructions[1]).toMatchObject({
      kind: 'switch',
      branches: [
        { name: 'big', when: '{{ steps.fetch.output.big }}', pc: 2 },
        { name: 'empty', when: '{{ trigger.empty }}', pc: 5 },
      ],
      defaultPc: 4,
      bodyPcs: [
        { branch: 'big', pcs: [2, 3] },
        { branch: 'empty', pcs: [] },
        { branch: 'default', pcs: [4] },
      ],
    });
    expect(p.instructions[4]).toMatchObject({ kind: 'delay', durationMs: 5_400_000 });
  });

  it('forEach: body, last top-level step, loopPc of the body, concurrency', () => {
    expect(p.instructions[5]).toMatchObject({
      kind: 'forEach',
      items: '{{ trigger.items }}',
      concurrency: 5,
      onItemError: 'fail',
      bodyPc: 6,
      lastPc: 7,
    });
    expect([6, 7, 8].map((pc) => p.instructions[pc]!.loopPc)).toEqual([5, 5, 5]);
    expect(p.instructions[1]!.loopPc).toBeNull();
  });

  it('goto resolves to the target pc; onFailure starts at failurePc; waits default to 30 d', () => {
    expect(p.instructions[9]!.onError).toEqual({ kind: 'goto', pc: 11 });
    expect(p.failurePc).toBe(12);
    expect(p.instructions[13]).toMatchObject({
      kind: 'waitForEvent',
      timeoutMs: 30 * 24 * 3600_000,
      onTimeout: { kind: 'continue' },
      path: 'definition.onFailure.steps[1]',
    });
  });

  it('a bad step compiles to an invalid instruction naming its path; the rest still compiles', () => {
    const q = compileProgram({
      version: 2,
      steps: [
        { id: 'a', type: 'teleport' },
        { id: 'b', type: 'delay', duration: 'soon' },
        act('c', { onError: { goto: 'a' } }),
        act('d', { onError: { goto: 'nowhere' } }),
        { id: 'e', type: 'forEach', items: '{{ trigger.x }}', steps: [] },
        { id: 'f', type: 'forEach', items: '{{ trigger.x }}', concurrency: 101, steps: [act('g')] },
        { type: 'delay', duration: '1s' },
      ],
    });
    const messages = q.instructions.map((i) => (i.kind === 'invalid' ? i.message : i.kind));
    expect(messages).toEqual([
      'definition.steps[0]: unknown step type "teleport".',
      'definition.steps[1]: "duration" is not a duration (e.g. "90s", "1h30m").',
      'definition.steps[2].onError.goto: a goto goes forward only, not to step "a".',
      'definition.steps[3].onError.goto: no step "nowhere".',
      'definition.steps[4]: a forEach needs at least one step.',
      'definition.steps[5]: "concurrency" must be an integer from 1 to 100.',
      'action',
      'definition.steps[6]: the step has no id.',
    ]);
    expect(q.failurePc).toBeNull();
  });
});

describe('parseDuration', () => {
  it('reads ms, s, m, h, d and combinations; refuses anything else', () => {
    expect(['250ms', '90s', '15m', '2h', '30d', '1h30m'].map(parseDuration)).toEqual([
      250, 90_000, 900_000, 7_200_000, 2_592_000_000, 5_400_000,
    ]);
    expect(['', '0s', '1 h', '1y', 'h', 5, null].map(parseDuration)).toEqual([
      null,
      null,
      null,
      null,
      null,
      null,
      null,
    ]);
  });
});
