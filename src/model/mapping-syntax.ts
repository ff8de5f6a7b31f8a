/**
 * The syntax of the mapping language (docs/workflows.md), without evaluation: the runner
 * resolves templates with it (runner/mapping.ts) and the catalog checks them at save
 * (catalog/workflows.ts, catalog/apps.ts), so both agree on what is malformed.
 */
import { SwitchyardError } from './errors.ts';

/** A string that is exactly one reference (it keeps the referenced value's JSON type). */
export const WHOLE_REFERENCE = /^\s*\{\{\s*([^{}]*?)\s*\}\}\s*$/;
/** Every reference in a string. */
export const ANY_REFERENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const SEGMENT = /^(?:\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\])/;

export type PathSegment = string | number;

/**
 * One alternative of a reference: `{{ a ?? b ?? "literal" }}` has three. The first that
 * resolves to a value other than null (and whose path exists) wins; only the last may be a
 * JSON literal (a string in double quotes, a number, true, false or null).
 */
export type Alternative =
  { kind: 'path'; path: string; segments: PathSegment[] } | { kind: 'literal'; value: unknown };

const LITERAL = /^(?:"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/;

/** Splits `a ?? b` at the `??`s that are outside double-quoted text. */
function splitAlternatives(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '?' && text[i + 1] === '?') {
      parts.push(text.slice(start, i).trim());
      start = i + 2;
      i++;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

/**
 * The alternatives of what is between `{{` and `}}`: `steps.a.output.x ?? "none"`. Throws
 * E_MAPPING_INVALID for a malformed path, an empty alternative, or a literal that is not last
 * (or alone: a reference names at least one path).
 */
export function parseExpression(text: string, where: string): Alternative[] {
  const parts = splitAlternatives(text.trim());
  if (parts.length === 1) {
    const path = parts[0]!;
    return [{ kind: 'path', path, segments: parsePath(path, where) }];
  }
  return parts.map((part, i): Alternative => {
    const last = i === parts.length - 1;
    if (LITERAL.test(part)) {
      if (!last || i === 0)
        throw new SwitchyardError(
          'E_MAPPING_INVALID',
          `${where}: "{{ ${text.trim()} }}": a literal (${part}) may only be the last alternative of "??", after at least one path`,
          { path: text.trim(), field: where },
        );
      return { kind: 'literal', value: JSON.parse(part) as unknown };
    }
    if (part === '')
      throw new SwitchyardError(
        'E_MAPPING_INVALID',
        `${where}: "{{ ${text.trim()} }}": an empty alternative around "??"`,
        { path: text.trim(), field: where },
      );
    return { kind: 'path', path: part, segments: parsePath(part, where) };
  });
}

/**
 * The references of a string, or E_MAPPING_INVALID for an unclosed `{{`. (A lone `}}` is
 * literal text.)
 */
export function templateReferences(s: string, where: string): string[] {
  if (!s.includes('{{')) return [];
  if (s.replace(ANY_REFERENCE, '').includes('{{'))
    throw new SwitchyardError(
      'E_MAPPING_INVALID',
      `${where}: unclosed "{{" in ${JSON.stringify(s)}`,
      { field: where },
    );
  return [...s.matchAll(ANY_REFERENCE)].map((m) => m[1]!);
}

/** `steps.fetch.output.items[0]["a b"]` → ['steps', 'fetch', 'output', 'items', 0, 'a b']. */
export function parsePath(path: string, where: string): PathSegment[] {
  if (path === '')
    throw new SwitchyardError('E_MAPPING_INVALID', `${where}: empty reference "{{ }}"`, {
      field: where,
    });
  const out: PathSegment[] = [];
  let rest = path;
  while (rest.length > 0) {
    const m = SEGMENT.exec(rest);
    if (
      !m ||
      (out.length === 0 && m[1] === undefined) ||
      (out.length > 0 && m[1] !== undefined && !rest.startsWith('.'))
    )
      throw new SwitchyardError(
        'E_MAPPING_INVALID',
        `${where}: "{{ ${path} }}" is not a valid path`,
        { path, field: where },
      );
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(`"${m[3]!}"`) as string);
    rest = rest.slice(m[0].length);
  }
  return out;
}

/**
 * A path found in a template. `guarded`: it is a non-last alternative of a `??` chain, so a
 * value missing there is not an error (the next alternative is taken).
 */
export type TemplateReference = {
  where: string;
  path: string;
  segments: PathSegment[];
  guarded: boolean;
};

/** The paths of one expression (`a ?? b ?? "x"`), each checked against `roots`. */
export function expressionReferences(
  text: string,
  at: string,
  roots: readonly string[],
): TemplateReference[] {
  const alternatives = parseExpression(text, at);
  const out: TemplateReference[] = [];
  alternatives.forEach((alt, i) => {
    if (alt.kind !== 'path') return;
    if (!roots.includes(String(alt.segments[0])))
      throw new SwitchyardError(
        'E_MAPPING_INVALID',
        `${at}: "{{ ${alt.path} }}": a reference starts with ${oneOf(roots)}`,
        { path: alt.path, field: at },
      );
    out.push({
      where: at,
      path: alt.path,
      segments: alt.segments,
      guarded: i < alternatives.length - 1,
    });
  });
  return out;
}

/**
 * Checks every string of a template (any JSON) and returns its references as parsed paths
 * (every alternative of a `??` chain), each with where it was found; throws E_MAPPING_INVALID
 * naming the first malformed one, or one whose first segment is not among `roots`.
 */
export function checkTemplate(
  template: unknown,
  where: string,
  roots: readonly string[],
): TemplateReference[] {
  const out: TemplateReference[] = [];
  const walk = (v: unknown, at: string): void => {
    if (typeof v === 'string') {
      for (const text of templateReferences(v, at))
        out.push(...expressionReferences(text, at, roots));
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`));
    else if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) walk(x, `${at}.${k}`);
  };
  walk(template, where);
  return out;
}

function oneOf(words: readonly string[]): string {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}
