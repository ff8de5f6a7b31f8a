/**
 * The mapping additions of definition version 2 (runner/mapping.ts, model/mapping-syntax.ts):
 * `{{ a ?? b ?? "literal" }}` takes the first alternative that exists and is not null, and
 * the roots `loop` and `error` come from StepContext.loop / StepContext.error when the engine
 * sets them (a version-1 step's scope is unchanged).
 */
import { describe, expect, it } from 'vitest';
import { isSwitchyardError } from '../../src/model/errors.ts';
import { checkTemplate, parseExpression } from '../../src/model/mapping-syntax.ts';
import type { StepContext } from '../../src/model/step.ts';
import { evaluateCondition, resolveMapping, stepScope } from '../../src/runner/mapping.ts';

const scope = {
  trigger: { body: { x: 5, none: null, name: 'Ada', zero: 0, empty: '' } },
  steps: { a: { output: { ok: true, list: [1, 2] } } },
  run: { id: 'r1' },
};

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isSwitchyardError(err)) return err.code;
    throw err;
  }
  return 'ok';
}

describe('?? fallbacks', () => {
  it('takes the first alternative that exists and is not null, keeping its JSON type', () => {
    expect(resolveMapping('{{ trigger.body.missing ?? steps.a.output.list }}', scope)).toEqual([
      1, 2,
    ]);
    expect(resolveMapping('{{ trigger.body.none ?? trigger.body.x }}', scope)).toBe(5);
    expect(resolveMapping('{{ trigger.body.x ?? 7 }}', scope)).toBe(5);
    // 0, "" and false are values: only missing and null fall through.
    expect(resolveMapping('{{ trigger.body.zero ?? 7 }}', scope)).toBe(0);
    expect(resolveMapping('{{ trigger.body.empty ?? "x" }}', scope)).toBe('');
    expect(resolveMapping('{{ steps.b.output ?? steps.c.output ?? 3 }}', scope)).toBe(3);
  });

  it('ends on a JSON literal: string, number, true, false, null', () => {
    const r = (lit: string) => resolveMapping(`{{ trigger.body.nope ?? ${lit} }}`, scope);
    expect(r('"a ?? b"')).toBe('a ?? b');
    expect(r('"say \\"hi\\""')).toBe('say "hi"');
    expect(r('-1.5e2')).toBe(-150);
    expect(r('true')).toBe(true);
    expect(r('false')).toBe(false);
    expect(r('null')).toBe(null);
  });

  it('interpolates the winner as text', () => {
    expect(resolveMapping('Hi {{ trigger.body.nick ?? trigger.body.name }}!', scope)).toBe(
      'Hi Ada!',
    );
    expect(resolveMapping('n={{ trigger.body.n ?? 0 }}', scope)).toBe('n=0');
  });

  it('a missing last path fails as a lone path does; a root the scope lacks falls through', () => {
    expect(code(() => resolveMapping('{{ trigger.body.a ?? trigger.body.b }}', scope))).toBe(
      'E_MAPPING_PATH_MISSING',
    );
    expect(resolveMapping('{{ loop.item ?? "outside" }}', scope)).toBe('outside');
  });

  it('conditions use it too, as a template or a bare path', () => {
    expect(evaluateCondition('{{ trigger.body.paid ?? false }}', scope)).toBe(false);
    expect(evaluateCondition('trigger.body.paid ?? steps.a.output.ok', scope)).toBe(true);
  });

  it('refuses a literal that is not last, a literal alone, an empty alternative', () => {
    for (const t of [
      '{{ "a" ?? trigger.x }}',
      '{{ 1 ?? 2 }}',
      '{{ trigger.x ?? }}',
      '{{ ?? trigger.x }}',
      '{{ trigger.x ?? "a" ?? trigger.y }}',
      '{{ trigger.x ?? ?? 1 }}',
      "{{ trigger.x ?? 'single' }}",
    ]) {
      expect(
        code(() => checkTemplate(t, 'input', ['trigger'])),
        t,
      ).toBe('E_MAPPING_INVALID');
      expect(
        code(() => resolveMapping(t, scope)),
        t,
      ).toBe('E_MAPPING_INVALID');
    }
  });

  it('splits at ?? outside quotes only, quoted keys included', () => {
    expect(parseExpression('trigger.body["a ?? b"] ?? "c ?? d"', 'x')).toEqual([
      { kind: 'path', path: 'trigger.body["a ?? b"]', segments: ['trigger', 'body', 'a ?? b'] },
      { kind: 'literal', value: 'c ?? d' },
    ]);
  });

  it('marks every alternative but the last as guarded', () => {
    const refs = checkTemplate('{{ steps.a.output ?? steps.b.output ?? 1 }}', 'input', ['steps']);
    expect(refs.map((r) => [r.path, r.guarded])).toEqual([
      ['steps.a.output', true],
      ['steps.b.output', true],
    ]);
    expect(checkTemplate('{{ steps.a.output }}', 'input', ['steps'])[0]!.guarded).toBe(false);
  });
});

describe('loop and error roots', () => {
  const ctx = {
    tenantId: 't',
    runId: 'r',
    workflowId: 'w',
    stepId: 's',
    stepIndex: 3,
    attempt: 1,
    traceparent: null,
    trigger: {},
    steps: {},
    runStartedAt: new Date('2026-01-01T00:00:00Z'),
  } as unknown as StepContext;

  it('reads StepContext.loop and StepContext.error', () => {
    const s = stepScope({
      ...ctx,
      loop: { item: { sku: 'A-1' }, index: 4 },
      error: { code: 'E_UPSTREAM_REJECTED', message: 'no', stepId: 'charge' },
    });
    expect(
      resolveMapping(
        {
          sku: '{{ loop.item.sku }}',
          i: '{{ loop.index }}',
          why: '{{ error.code }} at {{ error.stepId }}: {{ error.message }}',
        },
        s,
      ),
    ).toEqual({ sku: 'A-1', i: 4, why: 'E_UPSTREAM_REJECTED at charge: no' });
  });

  it('null outside a loop / without a failure: a ?? fallback applies, a lone path fails', () => {
    const s = stepScope({ ...ctx, loop: null, error: null });
    expect(resolveMapping('{{ error.code ?? "none" }}', s)).toBe('none');
    expect(code(() => resolveMapping('{{ loop.item }}', s))).toBe('E_MAPPING_PATH_MISSING');
  });

  it('a version-1 context (fields absent) has no loop or error root', () => {
    expect(Object.keys(stepScope(ctx))).toEqual(['trigger', 'steps', 'run']);
    expect(code(() => resolveMapping('{{ loop.item }}', stepScope(ctx)))).toBe('E_MAPPING_INVALID');
  });
});
