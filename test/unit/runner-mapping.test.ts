import { describe, expect, it } from 'vitest';
import { isSwitchyardError } from '../../src/model/errors.ts';
import { evaluateCondition, resolveMapping } from '../../src/runner/mapping.ts';
import { createSchemaValidator } from '../../src/runner/validation.ts';

const scope = {
  trigger: { body: { x: 5, name: 'Ada', tags: ['a', 'b'], nested: { 'odd key': true }, zero: 0 } },
  steps: { fetch: { output: { items: [{ id: 1 }, { id: 2 }], total: 2 } } },
  run: { id: 'run-1', attempt: 2, time: '2026-01-01T00:00:00.000Z' },
};

function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isSwitchyardError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('did not throw');
}

describe('mapping language', () => {
  it('keeps the JSON type of a whole-string reference', () => {
    expect(resolveMapping('{{ trigger.body.x }}', scope)).toBe(5);
    expect(resolveMapping('{{steps.fetch.output.items}}', scope)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(resolveMapping(' {{ trigger.body.nested }} ', scope)).toEqual({ 'odd key': true });
    expect(resolveMapping('{{ run.id }}', scope)).toBe('run-1');
  });

  it('interpolates references inside text', () => {
    expect(
      resolveMapping(
        'Hi {{ trigger.body.name }}, {{ trigger.body.x }} items, run {{ run.id }}',
        scope,
      ),
    ).toBe('Hi Ada, 5 items, run run-1');
    expect(resolveMapping('tags={{ trigger.body.tags }}', scope)).toBe('tags=["a","b"]');
  });

  it('walks objects, arrays and indexes', () => {
    expect(
      resolveMapping(
        {
          a: ['{{ steps.fetch.output.items[1].id }}', 3],
          b: { c: '{{ trigger.body.nested["odd key"] }}' },
          n: null,
        },
        scope,
      ),
    ).toEqual({ a: [2, 3], b: { c: true }, n: null });
  });

  it('a missing path is E_MAPPING_PATH_MISSING naming the path', () => {
    const e = thrown(() => resolveMapping({ v: '{{ steps.fetch.output.itemz }}' }, scope));
    expect(e.code).toBe('E_MAPPING_PATH_MISSING');
    expect(e.message).toContain('input.v');
    expect(e.message).toContain('"steps.fetch.output.itemz"');
    expect(e.message).toContain('available: items, total');
    expect(thrown(() => resolveMapping('{{ steps.fetch.output.items[5] }}', scope)).code).toBe(
      'E_MAPPING_PATH_MISSING',
    );
    expect(thrown(() => resolveMapping('{{ steps.nope.output }}', scope)).code).toBe(
      'E_MAPPING_PATH_MISSING',
    );
  });

  it('runs no code and reaches no prototype', () => {
    expect(thrown(() => resolveMapping('{{ trigger.body.x + 1 }}', scope)).code).toBe(
      'E_MAPPING_INVALID',
    );
    expect(thrown(() => resolveMapping('{{ process.env }}', scope)).code).toBe('E_MAPPING_INVALID');
    expect(thrown(() => resolveMapping('{{ trigger.constructor }}', scope)).code).toBe(
      'E_MAPPING_PATH_MISSING',
    );
    expect(thrown(() => resolveMapping('{{ trigger.__proto__ }}', scope)).code).toBe(
      'E_MAPPING_PATH_MISSING',
    );
    expect(thrown(() => resolveMapping('{{ trigger.body.tags.length }}', scope)).code).toBe(
      'E_MAPPING_PATH_MISSING',
    );
    expect(thrown(() => resolveMapping('{{ }}', scope)).code).toBe('E_MAPPING_INVALID');
    expect(thrown(() => resolveMapping('a {{ trigger.body.x', scope)).code).toBe(
      'E_MAPPING_INVALID',
    );
  });

  it('leaves strings without references alone', () => {
    expect(resolveMapping({ s: 'plain', n: 1, b: false }, scope)).toEqual({
      s: 'plain',
      n: 1,
      b: false,
    });
  });

  it('evaluates if conditions with the same language', () => {
    expect(evaluateCondition('{{ trigger.body.x }}', scope)).toBe(true);
    expect(evaluateCondition('{{ trigger.body.zero }}', scope)).toBe(false);
    expect(evaluateCondition('steps.fetch.output.total', scope)).toBe(true);
    expect(evaluateCondition('{{ trigger.body.name }} ', scope)).toBe(true);
    expect(thrown(() => evaluateCondition('{{ trigger.body.missing }}', scope)).code).toBe(
      'E_MAPPING_PATH_MISSING',
    );
  });
});

describe('schema validation', () => {
  it('compiles each schema once and names the wrong field', () => {
    const v = createSchemaValidator();
    const schema = {
      type: 'object',
      required: ['email'],
      properties: {
        email: { type: 'string', format: 'email' },
        items: { type: 'array', items: { type: 'integer' } },
      },
    };
    v.validate('input', schema, { email: 'a@b.test' });
    v.validate('input', JSON.parse(JSON.stringify(schema)), { email: 'c@d.test' });
    expect(v.compiled).toBe(1);
    const e = thrown(() => v.validate('input', schema, { email: 'nope', items: [1, 'x'] }));
    expect(e.code).toBe('E_STEP_INPUT_INVALID');
    expect(e.message).toContain('input.email must match format "email"');
    expect(e.message).toContain('input.items[1] must be integer');
    expect(
      thrown(() => v.validate('output', { type: 'object', required: ['id'] }, {})).message,
    ).toContain('output.id is required');
  });

  it('a schema that does not compile is E_ACTION_INVALID', () => {
    expect(
      thrown(() => createSchemaValidator().validate('input', { type: 'nonsense' }, {})).code,
    ).toBe('E_ACTION_INVALID');
  });
});

describe('schema dialect', () => {
  it('accepts draft 2020-12 schemas, like the save-time check', () => {
    const v = createSchemaValidator();
    const schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'array',
      prefixItems: [{ type: 'string' }, { type: 'integer' }],
    };
    v.validate('input', schema, ['a', 1]);
    expect(thrown(() => v.validate('input', schema, ['a', 'b'])).message).toContain(
      'input[1] must be integer',
    );
  });
});
