/**
 * The mapping language (product.md): JSON whose strings hold `{{ path }}` references. A string
 * that is exactly one reference takes the referenced value with its JSON type; otherwise the
 * references are interpolated as text. Paths are dot segments with `[0]` / `["key"]`
 * indexes; nothing is evaluated, and only own properties of plain data are reachable.
 */
import { isSwitchyardError, SwitchyardError } from '../model/errors.ts';
import {
  ANY_REFERENCE,
  WHOLE_REFERENCE,
  parseExpression,
  parsePath,
  templateReferences,
} from '../model/mapping-syntax.ts';
import type { StepContext } from '../model/step.ts';

// The syntax lives in model/mapping-syntax.ts, shared with the catalog's checks at save;
// this file evaluates.

export type MappingScope = Record<string, unknown>;

/**
 * The scope step inputs and `if` conditions see. `loop` and `error` (definition version 2)
 * are roots only when the engine set them (null outside a loop / without a failure), so a
 * version-1 step's scope is what it always was.
 */
export function stepScope(ctx: StepContext): MappingScope {
  return {
    trigger: ctx.trigger,
    steps: ctx.steps,
    run: {
      id: ctx.runId,
      attempt: ctx.attempt,
      time: ctx.runStartedAt.toISOString(),
      workflowId: ctx.workflowId,
    },
    ...(ctx.loop === undefined ? {} : { loop: ctx.loop }),
    ...(ctx.error === undefined ? {} : { error: ctx.error }),
  };
}

/** Resolves every reference in `template` (any JSON) against `scope`. */
export function resolveMapping(template: unknown, scope: MappingScope, where = 'input'): unknown {
  if (typeof template === 'string') return resolveString(template, scope, where);
  if (Array.isArray(template))
    return template.map((v, i) => resolveMapping(v, scope, `${where}[${i}]`));
  if (template !== null && typeof template === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(template))
      out[k] = resolveMapping(v, scope, `${where}.${k}`);
    return out;
  }
  return template;
}

/** An `if` condition: a template (or a bare path); the step runs when it is truthy. */
export function evaluateCondition(condition: string, scope: MappingScope): boolean {
  const literal = condition.trim();
  if (literal === 'true' || literal === 'false') return literal === 'true';
  const value = condition.includes('{{')
    ? resolveString(condition, scope, 'if')
    : evaluateExpression(condition.trim(), scope, 'if');
  if (typeof value === 'string') return !['', 'false', '0', 'null'].includes(value.trim());
  return Boolean(value);
}

function resolveString(s: string, scope: MappingScope, where: string): unknown {
  const whole = WHOLE_REFERENCE.exec(s);
  if (whole) return evaluateExpression(whole[1]!, scope, where);
  if (templateReferences(s, where).length === 0) return s;
  return s.replace(ANY_REFERENCE, (_m, text: string) =>
    toText(evaluateExpression(text, scope, where)),
  );
}

/**
 * What is between `{{` and `}}`: one path, or `a ?? b ?? "literal"`, whose first alternative
 * that exists and is not null wins (a root the scope lacks counts as missing). The last
 * alternative decides alone: its path missing fails as a lone path would.
 */
export function evaluateExpression(text: string, scope: MappingScope, where: string): unknown {
  const alternatives = parseExpression(text, where);
  for (const [i, alt] of alternatives.entries()) {
    const last = i === alternatives.length - 1;
    if (alt.kind === 'literal') return alt.value;
    if (last) return lookupPath(alt.path, scope, where);
    try {
      const value = lookupPath(alt.path, scope, where);
      if (value !== null && value !== undefined) return value;
    } catch (err) {
      if (
        !isSwitchyardError(err, 'E_MAPPING_PATH_MISSING') &&
        !(isSwitchyardError(err, 'E_MAPPING_INVALID') && !Object.hasOwn(scope, alt.segments[0]!))
      )
        throw err;
    }
  }
  return undefined; // not reached: the last alternative returns
}

/** Looks up `path` (e.g. `steps.fetch.output.items[0].id`) or fails naming it. */
export function lookupPath(path: string, scope: MappingScope, where: string): unknown {
  const segments = parsePath(path, where);
  const root = segments[0]!;
  if (!Object.hasOwn(scope, root))
    throw new SwitchyardError(
      'E_MAPPING_INVALID',
      `${where}: "{{ ${path} }}" must start with one of ${Object.keys(scope).join(', ')}`,
      { path },
    );
  let value: unknown = scope;
  let walked = '';
  for (const seg of segments) {
    const next = step(value, seg);
    walked =
      walked === ''
        ? String(seg)
        : typeof seg === 'number'
          ? `${walked}[${seg}]`
          : `${walked}.${seg}`;
    if (next === MISSING) {
      const available =
        value !== null && typeof value === 'object'
          ? Object.keys(value).slice(0, 10).join(', ')
          : '';
      throw new SwitchyardError(
        'E_MAPPING_PATH_MISSING',
        `${where}: the path "${path}" does not exist (no "${walked}"${available ? `; available: ${available}` : ''})`,
        { path, missing: walked },
      );
    }
    value = next;
  }
  return value;
}

const MISSING = Symbol('missing');

function step(value: unknown, seg: string | number): unknown {
  if (value === null || typeof value !== 'object') return MISSING;
  if (Array.isArray(value)) {
    if (typeof seg !== 'number' || seg >= value.length) return MISSING;
    return value[seg] as unknown;
  }
  const key = String(seg);
  return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : MISSING;
}

function toText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  return JSON.stringify(value);
}
