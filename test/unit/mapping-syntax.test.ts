/**
 * The catalog's save-time check and the runner agree: a template the check refuses is one the
 * runner refuses with E_MAPPING_INVALID on every run, and one it accepts never fails for its
 * syntax (only, later, for a path missing from the data).
 */
import { describe, expect, it } from 'vitest';
import { isSwitchyardError } from '../../src/model/errors.ts';
import { checkTemplate } from '../../src/model/mapping-syntax.ts';
import { resolveMapping } from '../../src/runner/mapping.ts';

const scope = {
  trigger: { body: { id: 7, items: [1, 2], 'first name': 'Ada' } },
  steps: { a: { output: { ok: true } } },
  run: { id: 'r1', attempt: 1, time: 't', workflowId: 'w' },
};
const roots = ['trigger', 'steps', 'run'];

const templates = [
  'plain text',
  'a }} b',
  '{{ trigger.body.id }}',
  'id={{ trigger.body.id }}/{{ run.id }}',
  '{{ trigger.body.items[1] }}',
  '{{ trigger.body["first name"] }}',
  '{{ steps.a.output.ok }}',
  '{{ trigger.body.id',
  'x {{ trigger.body.id }} {{ run.id',
  '{{ }}',
  '{{ trigger..body }}',
  '{{ trigger.body[x] }}',
  '{{ [0] }}',
  '{{ env.HOME }}',
  '{{ a {{ trigger.body.id }}',
];

function outcome(f: () => unknown): 'ok' | 'invalid' {
  try {
    f();
    return 'ok';
  } catch (err) {
    if (isSwitchyardError(err, 'E_MAPPING_INVALID')) return 'invalid';
    throw err;
  }
}

describe('mapping syntax', () => {
  it.each(templates)('check and runner agree on %j', (t) => {
    const atSave = outcome(() => checkTemplate({ x: [t] }, 'input', roots));
    const atRun = outcome(() => resolveMapping({ x: [t] }, scope));
    expect(atSave).toBe(atRun);
  });

  it('names where a bad reference is', () => {
    try {
      checkTemplate({ a: { b: ['ok', '{{ trigger.x'] } }, 'input', roots);
      expect.unreachable();
    } catch (err) {
      expect(isSwitchyardError(err, 'E_MAPPING_INVALID')).toBe(true);
      expect((err as { details: { field: string } }).details.field).toBe('input.a.b[1]');
    }
  });
});
