/**
 * docs/workflows.md, "Definition version 2", stays true: every ```json example of that part
 * is a complete definition that the save check accepts once its placeholders
 * (`"<id of http.request>"`: ids a builder looks up in their tenant) are filled in, and
 * together they show every step type, `onError` goto, `onFailure`, `??` and the `loop` and
 * `error` roots.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkDefinitionV2 } from '../../src/catalog/definition-v2.ts';
import { compileProgram } from '../../src/model/compile-program.ts';
import { stepKindsV2 } from '../../src/model/workflow-v2.ts';

const doc = readFileSync(new URL('../../docs/workflows.md', import.meta.url), 'utf8');
const start = doc.indexOf('## Definition version 2');
const end = doc.indexOf('\n## ', start + 1);
const part = doc.slice(start, end);
const examples = [...part.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** Each distinct placeholder becomes a distinct, well-formed id. */
function filled(text: string): unknown {
  const ids = new Map<string, string>();
  return JSON.parse(text, (_key, value: unknown) => {
    if (typeof value !== 'string' || !/^<[^>]+>$/.test(value)) return value;
    if (!ids.has(value))
      ids.set(value, `00000000-0000-4000-8000-${String(ids.size + 1).padStart(12, '0')}`);
    return ids.get(value);
  });
}

describe('docs/workflows.md, Definition version 2', () => {
  it('has the part and its examples', () => {
    expect(start).toBeGreaterThan(0);
    expect(examples.length).toBeGreaterThanOrEqual(7);
  });

  it.each(examples.map((e, i) => [i + 1, e] as const))('example %i validates', (_n, text) => {
    expect(() => checkDefinitionV2(filled(text))).not.toThrow();
  });

  it.each(examples.map((e, i) => [i + 1, e] as const))(
    "example %i, as saved, compiles step for step in the validator's order",
    (_n, text) => {
      const { definition, steps } = checkDefinitionV2(filled(text));
      const program = compileProgram(definition);
      expect(program.instructions.filter((i) => (i.kind as string) === 'invalid')).toEqual([]);
      expect(program.instructions.map((i) => [i.stepId, i.path])).toEqual(
        steps.map((s) => [s.step.id, s.where]),
      );
    },
  );

  it('shows every construct', () => {
    const all = examples.join('\n');
    for (const kind of stepKindsV2.filter((k) => k !== 'action'))
      expect(all, kind).toContain(`"type": "${kind}"`);
    for (const needle of [
      '"goto"',
      '"onFailure"',
      ' ?? ',
      'loop.item',
      'loop.index',
      'error.code',
      'error.message',
      'error.stepId',
      'run.waits.',
    ])
      expect(all, needle).toContain(needle);
  });
});
