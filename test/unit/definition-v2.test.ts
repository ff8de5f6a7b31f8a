/**
 * Definition version 2 at save, without the database (catalog/definition-v2.ts
 * checkDefinitionV2): every rule refuses with E_VALIDATION naming the JSON path of what to
 * fix, and a definition that passes comes back with its defaults filled.
 */
import { describe, expect, it } from 'vitest';
import { checkDefinitionV2 } from '../../src/catalog/definition-v2.ts';
import { isSwitchyardError } from '../../src/model/errors.ts';

const A = '00000000-0000-4000-8000-00000000000a';
const W = '00000000-0000-4000-8000-00000000000b';

const act = (id: string, input: unknown = {}, extra: Record<string, unknown> = {}) => ({
  id,
  actionId: A,
  input,
  ...extra,
});

function refusal(definition: unknown): { code: string; field: unknown; message: string } {
  try {
    checkDefinitionV2(definition);
  } catch (err) {
    if (isSwitchyardError(err))
      return { code: err.code, field: err.details.field, message: err.message };
    throw err;
  }
  throw new Error('accepted');
}

function expectRefused(definition: unknown, field: string, message?: RegExp): void {
  const r = refusal(definition);
  expect(r.code).toBe('E_VALIDATION');
  expect(r.field).toBe(field);
  expect(r.message.startsWith(`${field}: `)).toBe(true);
  if (message) expect(r.message).toMatch(message);
}

const v2 = (steps: unknown[], onFailure?: unknown[]) => ({
  version: 2,
  steps,
  ...(onFailure ? { onFailure: { steps: onFailure } } : {}),
});

const sw = (id: string, branches: unknown[], extra: Record<string, unknown> = {}) => ({
  id,
  type: 'switch',
  branches,
  ...extra,
});
const br = (name: string, when: string, steps: unknown[]) => ({ name, when, steps });
const loop = (id: string, steps: unknown[], extra: Record<string, unknown> = {}) => ({
  id,
  type: 'forEach',
  items: '{{ trigger.body.items }}',
  steps,
  ...extra,
});

describe('definition version 2: accepted and normalised', () => {
  it('fills the defaults of every kind', () => {
    const { definition } = checkDefinitionV2(
      v2([
        act('a'),
        sw('s', [br('big', '{{ steps.a.output.big }}', [act('b')])], {
          default: { steps: [act('c')] },
        }),
        loop('l', [act('d', { n: '{{ loop.item }}', i: '{{ loop.index }}' })]),
        { id: 'pause', type: 'delay', duration: '1h30m' },
        { id: 'until', type: 'waitUntil', until: '{{ trigger.body.at }}' },
        { id: 'approve', type: 'waitForEvent' },
        { id: 'child', type: 'callWorkflow', workflowId: W },
      ]),
    );
    const [a, s, l, , , approve, child] = definition.steps;
    expect(a).toEqual({
      id: 'a',
      type: 'action',
      actionId: A,
      connectionId: null,
      input: {},
      if: null,
      onError: 'fail',
    });
    expect(s).toMatchObject({ type: 'switch', if: null, default: { steps: [{ id: 'c' }] } });
    expect(l).toMatchObject({ concurrency: 10, onItemError: 'fail', onError: 'fail' });
    expect(approve).toEqual({
      id: 'approve',
      type: 'waitForEvent',
      if: null,
      timeout: '30d',
      onTimeout: 'fail',
    });
    expect(child).toMatchObject({ wait: true, input: {}, onError: 'fail' });
  });

  it('lists every step in program order with its path', () => {
    const { steps } = checkDefinitionV2(
      v2(
        [act('a'), sw('s', [br('x', '{{ trigger.body.x }}', [act('b')])]), act('c')],
        [act('f', { code: '{{ error.code }}', a: '{{ steps.a.output ?? null }}' })],
      ),
    );
    expect(steps.map((s) => [s.step.id, s.where])).toEqual([
      ['a', 'definition.steps[0]'],
      ['s', 'definition.steps[1]'],
      ['b', 'definition.steps[1].branches[0].steps[0]'],
      ['c', 'definition.steps[2]'],
      ['f', 'definition.onFailure.steps[0]'],
    ]);
  });

  it('accepts what may not have run as a non-last alternative of ??', () => {
    expect(() =>
      checkDefinitionV2(
        v2([
          sw('s', [br('x', '{{ trigger.body.x }}', [act('b')])]),
          act('after', { v: '{{ steps.b.output.v ?? steps.s.output.branch ?? "none" }}' }),
        ]),
      ),
    ).not.toThrow();
  });

  it('accepts a goto forward in the same block and to an enclosing one, with error. from the target on', () => {
    expect(() =>
      checkDefinitionV2(
        v2([
          act('a', {}, { onError: { goto: 'recover' } }),
          sw('s', [
            br('x', '{{ trigger.body.x }}', [act('b', {}, { onError: { goto: 'recover' } })]),
          ]),
          act('recover', { why: '{{ error.message }}', a: '{{ steps.a.output ?? 0 }}' }),
          act('later', { who: '{{ error.stepId }}' }),
        ]),
      ),
    ).not.toThrow();
  });

  it('accepts a loop whose body branches, and a loop in a branch', () => {
    expect(() =>
      checkDefinitionV2(
        v2([
          loop('outer', [
            act('first', { o: '{{ loop.item }}' }),
            sw('kind', [br('big', '{{ loop.item.big }}', [act('deep', { x: '{{ loop.item }}' })])]),
          ]),
          sw('again', [br('yes', '{{ trigger.again }}', [loop('inner', [act('each')])])]),
          act('after', { all: '{{ steps.outer.output }}' }),
        ]),
      ),
    ).not.toThrow();
  });

  it('refuses what loop bodies cannot hold yet: a forEach, a waitForEvent (at any depth)', () => {
    expectRefused(
      v2([
        loop('outer', [
          act('first'),
          loop('inner', [act('deep')], { items: '{{ loop.item.children }}' }),
        ]),
      ]),
      'definition.steps[0].steps[1]',
      /inside the body of forEach "outer" is not supported yet.*callWorkflow/,
    );
    expectRefused(
      v2([loop('outer', [sw('s', [br('b', '{{ loop.item }}', [loop('inner', [act('d')])])])])]),
      'definition.steps[0].steps[0].branches[0].steps[0]',
      /forEach "outer"/,
    );
    expectRefused(
      v2([loop('outer', [{ id: 'approve', type: 'waitForEvent' }])]),
      'definition.steps[0].steps[0]',
      /waitForEvent inside the body of forEach "outer"/,
    );
  });

  it('accepts a switch referenced from its own branches, and run.waits of a waitForEvent', () => {
    expect(() =>
      checkDefinitionV2(
        v2([
          act('mail', {
            link: '{{ run.waits.approval.url }}',
            t: '{{ run.waits.approval.token }}',
          }),
          { id: 'approval', type: 'waitForEvent', timeout: '7d', onTimeout: 'continue' },
          sw('route', [
            br('yes', '{{ steps.approval.output.approved }}', [
              act('inside', { b: '{{ steps.route.output.branch }}' }),
            ]),
          ]),
        ]),
      ),
    ).not.toThrow();
  });
});

describe('definition version 2: each rule refuses with the path of what to fix', () => {
  it('the definition itself', () => {
    expectRefused({ version: 2 }, 'definition.steps');
    expectRefused({ version: 2, steps: [] }, 'definition.steps');
    expectRefused({ ...v2([act('a')]), extra: 1 }, 'definition.extra');
    expectRefused({ ...v2([act('a')]), onFailure: [] }, 'definition.onFailure');
    expectRefused({ ...v2([act('a')]), onFailure: { steps: [] } }, 'definition.onFailure.steps');
  });

  it('unknown type, unknown field, bad id, pinnedOutput', () => {
    expectRefused(v2([{ id: 'a', type: 'parallel' }]), 'definition.steps[0].type', /unknown/);
    expectRefused(v2([{ id: 'a', type: 'toString' }]), 'definition.steps[0].type', /unknown/);
    expectRefused(v2([{ id: 'a', type: 5 }]), 'definition.steps[0].type', /unknown/);
    expectRefused(v2([act('a', {}, { timeout: '1s' })]), 'definition.steps[0].timeout');
    expectRefused(
      v2([{ id: 'd', type: 'delay', duration: '1s', input: {} }]),
      'definition.steps[0].input',
    );
    expectRefused(v2([act('A')]), 'definition.steps[0].id');
    expectRefused(v2([{ actionId: A }]), 'definition.steps[0].id');
    expectRefused(v2([{ type: 'delay', duration: '1s' }]), 'definition.steps[0].id');
    expectRefused(v2(['a']), 'definition.steps[0]');
    expectRefused(v2([sw('s', ['x'])]), 'definition.steps[0].branches[0]');
    expectRefused(v2([act('a', {}, { pinnedOutput: 1 })]), 'definition.steps[0].pinnedOutput');
    expectRefused(
      v2([sw('s', [br('x', 'true', [act('a', {}, { bogus: 1 })])])]),
      'definition.steps[0].branches[0].steps[0].bogus',
    );
  });

  it('duplicate ids across the whole definition', () => {
    expectRefused(
      v2([act('a'), sw('s', [br('x', '{{ trigger.x }}', [act('a')])])]),
      'definition.steps[1].branches[0].steps[0].id',
      /already the id of definition\.steps\[0\]/,
    );
    expectRefused(v2([act('a')], [act('a')]), 'definition.onFailure.steps[0].id');
  });

  it('action steps at any depth: action id, connection id, onError', () => {
    expectRefused(
      v2([loop('l', [{ id: 'b', actionId: 'nope' }])]),
      'definition.steps[0].steps[0].actionId',
    );
    expectRefused(
      v2([loop('l', [act('b', {}, { connectionId: 3 })])]),
      'definition.steps[0].steps[0].connectionId',
    );
    expectRefused(v2([act('a', {}, { onError: 'retry' })]), 'definition.steps[0].onError');
    expectRefused(v2([act('a', {}, { onError: { goto: 1 } })]), 'definition.steps[0].onError');
  });

  it('mapping syntax at any depth', () => {
    expectRefused(
      v2([act('a'), sw('s', [br('x', 'true', [act('b', { to: '{{ trigger.body.to' })])])]),
      'definition.steps[1].branches[0].steps[0].input.to',
      /unclosed/,
    );
    expectRefused(v2([act('a', { x: '{{ env.HOME }}' })]), 'definition.steps[0].input.x');
    expectRefused(v2([act('a', { x: '{{ "lit" ?? trigger.a }}' })]), 'definition.steps[0].input.x');
    expectRefused(v2([act('a', {}, { if: '{{ trigger..x }}' })]), 'definition.steps[0].if');
  });

  it('switch: branches, names, when, unreachable branches', () => {
    expectRefused(v2([sw('s', [])]), 'definition.steps[0].branches');
    expectRefused(
      v2([
        sw(
          's',
          Array.from({ length: 21 }, (_, i) => br(`b${i}`, '{{ trigger.x }}', [])),
        ),
      ]),
      'definition.steps[0].branches',
    );
    expectRefused(
      v2([sw('s', [br('default', '{{ trigger.x }}', [])])]),
      'definition.steps[0].branches[0].name',
    );
    expectRefused(
      v2([sw('s', [br('x', '{{ trigger.x }}', []), br('x', '{{ trigger.y }}', [])])]),
      'definition.steps[0].branches[1].name',
    );
    expectRefused(v2([sw('s', [br('x', '', [])])]), 'definition.steps[0].branches[0].when');
    expectRefused(
      v2([sw('s', [br('x', 'true', [act('a')]), br('y', '{{ trigger.y }}', [act('b')])])]),
      'definition.steps[0].branches[0].when',
      /branches\[1\].*never be taken/,
    );
    expectRefused(
      v2([sw('s', [br('x', 'true', [act('a')])], { default: { steps: [act('b')] } })]),
      'definition.steps[0].branches[0].when',
      /default/,
    );
    expectRefused(
      v2([sw('s', [br('x', 'false', [act('a')])])]),
      'definition.steps[0].branches[0].when',
    );
    expectRefused(
      v2([sw('s', [br('x', '{{ trigger.x }}', [])], { default: [] })]),
      'definition.steps[0].default',
    );
    expectRefused(
      v2([sw('s', [br('x', '{{ trigger.x }}', [])], { onError: 'continue' })]),
      'definition.steps[0].onError',
    );
  });

  it('switch by value: value is a template, equals needs it, not with when, no duplicate', () => {
    const eq = (name: string, equals: unknown) => ({ name, equals, steps: [act(`${name}_a`)] });
    const ok = v2([sw('s', [eq('paid', 'paid'), eq('one', 1)], { value: '{{ trigger.body.s }}' })]);
    expect(checkDefinitionV2(ok).definition.steps[0]).toMatchObject({
      value: '{{ trigger.body.s }}',
      branches: [
        { name: 'paid', equals: 'paid' },
        { name: 'one', equals: 1 },
      ],
    });
    expectRefused(
      v2([sw('s', [eq('paid', 'paid')], { value: 'trigger.body.s' })]),
      'definition.steps[0].value',
    );
    expectRefused(v2([sw('s', [eq('paid', 'paid')])]), 'definition.steps[0].branches[0].equals');
    expectRefused(
      v2([
        sw('s', [{ ...eq('paid', 'paid'), when: '{{ trigger.x }}' }], {
          value: '{{ trigger.body.s }}',
        }),
      ]),
      'definition.steps[0].branches[0].when',
    );
    expectRefused(
      v2([sw('s', [eq('a', { x: 1 }), eq('b', { x: 1 })], { value: '{{ trigger.body.s }}' })]),
      'definition.steps[0].branches[1].equals',
      /never be taken/,
    );
    expectRefused(
      v2([sw('s', [eq('a', 1)], { value: '{{ steps.later.output }}' }), act('later')]),
      'definition.steps[0].value',
    );
  });

  it('forEach: items, concurrency, onItemError, body', () => {
    expectRefused(
      v2([loop('l', [act('a')], { items: 'trigger.body.items' })]),
      'definition.steps[0].items',
    );
    expectRefused(
      v2([loop('l', [act('a')], { items: 'x {{ trigger.a }}' })]),
      'definition.steps[0].items',
    );
    expectRefused(
      v2([loop('l', [act('a')], { concurrency: 0 })]),
      'definition.steps[0].concurrency',
    );
    expectRefused(
      v2([loop('l', [act('a')], { concurrency: 101 })]),
      'definition.steps[0].concurrency',
    );
    expectRefused(
      v2([loop('l', [act('a')], { concurrency: 1.5 })]),
      'definition.steps[0].concurrency',
    );
    expectRefused(
      v2([loop('l', [act('a')], { onItemError: 'skip' })]),
      'definition.steps[0].onItemError',
    );
    expectRefused(v2([loop('l', [])]), 'definition.steps[0].steps');
    expectRefused(
      v2([loop('l', [act('a')], { items: '{{ steps.l.output }}' })]),
      'definition.steps[0].items',
      /runs as this step/,
    );
  });

  it('waits and calls: durations, dates, workflow ids, wait', () => {
    for (const duration of ['', '10', '5 minutes', '1m1h', '0s', '366d', '-1s'])
      expectRefused(v2([{ id: 'd', type: 'delay', duration }]), 'definition.steps[0].duration');
    expectRefused(v2([{ id: 'd', type: 'delay' }]), 'definition.steps[0].duration');
    expectRefused(
      v2([{ id: 'w', type: 'waitUntil', until: 'tomorrow' }]),
      'definition.steps[0].until',
    );
    expectRefused(
      v2([{ id: 'w', type: 'waitUntil', until: '{{ loop.item }}' }]),
      'definition.steps[0].until',
      /no loop body/,
    );
    expectRefused(
      v2([{ id: 'e', type: 'waitForEvent', timeout: '1y' }]),
      'definition.steps[0].timeout',
    );
    expectRefused(
      v2([{ id: 'e', type: 'waitForEvent', onTimeout: 'ignore' }]),
      'definition.steps[0].onTimeout',
    );
    expectRefused(
      v2([{ id: 'c', type: 'callWorkflow', workflowId: 'x' }]),
      'definition.steps[0].workflowId',
    );
    expectRefused(
      v2([{ id: 'c', type: 'callWorkflow', workflowId: W, wait: 'yes' }]),
      'definition.steps[0].wait',
    );
  });

  it('goto: unknown, earlier, itself, another branch, out of a loop, into onFailure', () => {
    expectRefused(
      v2([act('a', {}, { onError: { goto: 'zz' } })]),
      'definition.steps[0].onError.goto',
      /no step/,
    );
    expectRefused(
      v2([act('a'), act('b', {}, { onError: { goto: 'a' } })]),
      'definition.steps[1].onError.goto',
      /cycle/,
    );
    expectRefused(
      v2([act('a', {}, { onError: { goto: 'a' } })]),
      'definition.steps[0].onError.goto',
    );
    expectRefused(
      v2([
        sw('s', [
          br('x', '{{ trigger.x }}', [act('a', {}, { onError: { goto: 'b' } })]),
          br('y', '{{ trigger.y }}', [act('b')]),
        ]),
      ]),
      'definition.steps[0].branches[0].steps[0].onError.goto',
      /does not enclose/,
    );
    expectRefused(
      v2([
        act('a', {}, { onError: { goto: 'b' } }),
        sw('s', [br('x', '{{ trigger.x }}', [act('b')])]),
      ]),
      'definition.steps[0].onError.goto',
    );
    expectRefused(
      v2([loop('l', [act('a', {}, { onError: { goto: 'after' } })]), act('after')]),
      'definition.steps[0].steps[0].onError.goto',
      /leave its loop/,
    );
    expectRefused(
      v2([act('a', {}, { onError: { goto: 'f' } })], [act('f')]),
      'definition.steps[0].onError.goto',
    );
    expectRefused(
      v2([{ id: 'e', type: 'waitForEvent', onTimeout: { goto: 'e' } }]),
      'definition.steps[0].onTimeout.goto',
    );
  });

  it('references: later step, itself, unknown, not output', () => {
    expectRefused(
      v2([act('a', { x: '{{ steps.b.output }}' }), act('b')]),
      'definition.steps[0].input.x',
      /after this step/,
    );
    expectRefused(v2([act('a', { x: '{{ steps.a.output }}' })]), 'definition.steps[0].input.x');
    expectRefused(
      v2([act('a', { x: '{{ steps.zz.output ?? 1 }}' })]),
      'definition.steps[0].input.x',
      /no step/,
    );
    expectRefused(
      v2([act('a'), act('b', { x: '{{ steps.a.input }}' })]),
      'definition.steps[1].input.x',
      /only "output"/,
    );
    // A later step stays refused as an alternative of ?? too: it never ran before.
    expectRefused(
      v2([act('a', { x: '{{ steps.b.output ?? 1 }}' }), act('b')]),
      'definition.steps[0].input.x',
    );
  });

  it('references: a branch step after the join, unless a non-last ?? alternative', () => {
    const def = (ref: string) =>
      v2([
        sw('s', [br('x', '{{ trigger.x }}', [act('b')])], { default: { steps: [act('c')] } }),
        act('after', { to: ref }),
      ]);
    expectRefused(
      def('{{ steps.b.output.to }}'),
      'definition.steps[1].input.to',
      /branch "x" of switch "s"/,
    );
    expectRefused(def('{{ steps.c.output.to }}'), 'definition.steps[1].input.to', /default branch/);
    expectRefused(
      def('{{ steps.c.output ?? steps.b.output }}'),
      'definition.steps[1].input.to',
      /branch "x"/,
    );
    expect(() => checkDefinitionV2(def('{{ steps.b.output.to ?? steps.c.output.to }}'))).toThrow();
    expect(() =>
      checkDefinitionV2(def('{{ steps.b.output.to ?? steps.c.output.to ?? "x" }}')),
    ).not.toThrow();
    // From one branch to another.
    expectRefused(
      v2([
        sw('s', [
          br('x', '{{ trigger.x }}', [act('b')]),
          br('y', '{{ trigger.y }}', [act('c', { v: '{{ steps.b.output }}' })]),
        ]),
      ]),
      'definition.steps[0].branches[1].steps[0].input.v',
    );
  });

  it('references: a loop body step outside its loop (even with ??), and the loop inside itself', () => {
    expectRefused(
      v2([loop('l', [act('b')]), act('after', { v: '{{ steps.b.output ?? 1 }}' })]),
      'definition.steps[1].input.v',
      /once per item inside the loop "l"/,
    );
    expectRefused(
      v2([loop('l', [act('b', { v: '{{ steps.l.output }}' })])]),
      'definition.steps[0].steps[0].input.v',
      /inside the loop "l"/,
    );
  });

  it('references: a step a goto may skip, at or after its target', () => {
    const def = (ref: string) =>
      v2([
        act('a', {}, { onError: { goto: 'recover' } }),
        act('skipped'),
        act('recover', { v: ref }),
      ]);
    expectRefused(def('{{ steps.skipped.output }}'), 'definition.steps[2].input.v', /goto of "a"/);
    expect(() => checkDefinitionV2(def('{{ steps.skipped.output ?? null }}'))).not.toThrow();
    // Before the target the skipped step ran (no goto was taken to get there).
    expect(() =>
      checkDefinitionV2(
        v2([
          act('a', {}, { onError: { goto: 'recover' } }),
          act('skipped'),
          act('uses', { v: '{{ steps.skipped.output }}' }),
          act('recover'),
        ]),
      ),
    ).not.toThrow();
  });

  it('references: the onFailure path reads main steps only through ??', () => {
    expectRefused(
      v2([act('a')], [act('f', { v: '{{ steps.a.output }}' })]),
      'definition.onFailure.steps[0].input.v',
      /onFailure path/,
    );
    expectRefused(
      v2([act('a', { v: '{{ steps.f.output ?? 1 }}' })], [act('f')]),
      'definition.steps[0].input.v',
    );
  });

  it('roots: loop. outside a loop, error. off the error paths, unknown fields of each', () => {
    expectRefused(
      v2([act('a', { v: '{{ loop.item }}' })]),
      'definition.steps[0].input.v',
      /no loop body/,
    );
    expectRefused(
      v2([loop('l', [act('a', { v: '{{ loop.value }}' })])]),
      'definition.steps[0].steps[0].input.v',
    );
    expectRefused(
      v2([act('a', { v: '{{ error.code }}' })]),
      'definition.steps[0].input.v',
      /onFailure/,
    );
    expectRefused(
      v2([act('a', { v: '{{ error.code }}' }), act('b', {}, { onError: { goto: 'c' } }), act('c')]),
      'definition.steps[0].input.v',
    );
    expectRefused(
      v2([act('a')], [act('f', { v: '{{ error.detail }}' })]),
      'definition.onFailure.steps[0].input.v',
    );
    expectRefused(v2([act('a', { v: '{{ run.tenant }}' })]), 'definition.steps[0].input.v');
  });

  it('run.waits.<id> names a waitForEvent step and offers token and url', () => {
    expectRefused(v2([act('a', { v: '{{ run.waits.zz.url }}' })]), 'definition.steps[0].input.v');
    expectRefused(
      v2([act('a', { v: '{{ run.waits.d.url }}' }), { id: 'd', type: 'delay', duration: '1s' }]),
      'definition.steps[0].input.v',
    );
    expectRefused(
      v2([act('a', { v: '{{ run.waits.e.secret }}' }), { id: 'e', type: 'waitForEvent' }]),
      'definition.steps[0].input.v',
    );
  });

  it('limits: 200 steps, 5 nested blocks', () => {
    expectRefused(
      v2(Array.from({ length: 201 }, (_, i) => act(`s${i}`))),
      'definition.steps[200]',
      /at most 200/,
    );
    let body: unknown[] = [act('leaf')];
    for (let i = 5; i >= 0; i--) body = [sw(`s${i}`, [br('b', '{{ trigger.x }}', body)])];
    expectRefused(v2(body), `definition.steps[0]${'.branches[0].steps[0]'.repeat(5)}`, /5 deep/);
  });
});
