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
 * Checks every string of a template (any JSON) and returns its references as parsed paths,
 * each with where it was found; throws E_MAPPING_INVALID naming the first malformed one, or
 * one whose first segment is not among `roots`.
 */
export function checkTemplate(
  template: unknown,
  where: string,
  roots: readonly string[],
): Array<{ where: string; path: string; segments: PathSegment[] }> {
  const out: Array<{ where: string; path: string; segments: PathSegment[] }> = [];
  const walk = (v: unknown, at: string): void => {
    if (typeof v === 'string') {
      for (const path of templateReferences(v, at)) {
        const segments = parsePath(path, at);
        if (!roots.includes(String(segments[0])))
          throw new SwitchyardError(
            'E_MAPPING_INVALID',
            `${at}: "{{ ${path} }}": a reference starts with ${oneOf(roots)}`,
            { path, field: at },
          );
        out.push({ where: at, path, segments });
      }
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
