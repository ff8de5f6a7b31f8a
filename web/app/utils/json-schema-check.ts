/**
 * JSON Schema checking as you type, in the browser. The server compiles every schema with ajv
 * on save (src/model/json-schema.ts), but ajv compiles to code with `new Function`, which the
 * web app's Content-Security-Policy (no eval) refuses; so this walks the keywords builders
 * actually write and names the first wrong one with its path, as ajv's meta-schema check would.
 * The server stays the judge: anything this misses comes back on the same field at save.
 */

const types = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'];
const schemaKeywords = [
  'items',
  'additionalProperties',
  'additionalItems',
  'unevaluatedProperties',
  'unevaluatedItems',
  'not',
  'contains',
  'propertyNames',
  'if',
  'then',
  'else',
];
const schemaMapKeywords = ['properties', 'patternProperties', '$defs', 'definitions'];
const schemaListKeywords = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const countKeywords = [
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'minContains',
  'maxContains',
];
const numberKeywords = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];
const stringKeywords = ['$ref', '$id', '$schema', 'title', 'description', 'format', '$comment'];

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function checkNode(node: unknown, at: string): string | null {
  if (typeof node === 'boolean') return null;
  if (!isObject(node)) return `${at || '/'}: a schema must be an object or true/false`;
  const type = node.type;
  if (type !== undefined) {
    const list = Array.isArray(type) ? type : [type];
    const bad = list.find((t) => typeof t !== 'string' || !types.includes(t));
    if (list.length === 0 || bad !== undefined)
      return `${at}/type: must be one of ${types.join(', ')} (or a list of them), not ${JSON.stringify(bad ?? type)}`;
  }
  for (const k of stringKeywords)
    if (node[k] !== undefined && typeof node[k] !== 'string') return `${at}/${k}: must be a string`;
  for (const k of countKeywords) {
    const v = node[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0))
      return `${at}/${k}: must be a whole number ≥ 0`;
  }
  for (const k of numberKeywords)
    if (node[k] !== undefined && typeof node[k] !== 'number') return `${at}/${k}: must be a number`;
  if (typeof node.multipleOf === 'number' && node.multipleOf <= 0)
    return `${at}/multipleOf: must be greater than 0`;
  if (node.required !== undefined) {
    const r = node.required;
    if (!Array.isArray(r) || r.some((x) => typeof x !== 'string'))
      return `${at}/required: must be a list of property names (strings)`;
    if (new Set(r).size !== r.length) return `${at}/required: must not list a name twice`;
  }
  if (node.enum !== undefined && !Array.isArray(node.enum)) return `${at}/enum: must be a list`;
  if (node.pattern !== undefined) {
    if (typeof node.pattern !== 'string') return `${at}/pattern: must be a string`;
    try {
      new RegExp(node.pattern, 'u');
    } catch {
      return `${at}/pattern: is not a valid regular expression`;
    }
  }
  for (const k of schemaKeywords) {
    if (node[k] === undefined) continue;
    const e = checkNode(node[k], `${at}/${k}`);
    if (e) return e;
  }
  for (const k of schemaMapKeywords) {
    const map = node[k];
    if (map === undefined) continue;
    if (!isObject(map)) return `${at}/${k}: must be an object of schemas`;
    for (const [name, sub] of Object.entries(map)) {
      const e = checkNode(sub, `${at}/${k}/${name}`);
      if (e) return e;
    }
  }
  for (const k of schemaListKeywords) {
    const list = node[k];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length === 0)
      return `${at}/${k}: must be a non-empty list of schemas`;
    for (const [i, sub] of list.entries()) {
      const e = checkNode(sub, `${at}/${k}/${i}`);
      if (e) return e;
    }
  }
  return null;
}

/**
 * The first problem in a JSON Schema given as text: invalid JSON, or a keyword with a wrong
 * value (with its path, e.g. `/properties/age/type`); null when it looks usable.
 */
export function checkJsonSchemaText(text: string): string | null {
  return findJsonSchemaProblem(text)?.message ?? null;
}

/** As checkJsonSchemaText, with the JSON Pointer of the wrong keyword (null for bad JSON). */
export function findJsonSchemaProblem(
  text: string,
): { message: string; pointer: string | null } | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { message: `Not valid JSON: ${(err as Error).message}`, pointer: null };
  }
  const problem = checkNode(value, '');
  if (!problem) return null;
  return {
    message: `Not a valid JSON Schema at ${problem}.`,
    pointer: problem.slice(0, problem.indexOf(':')),
  };
}

/**
 * Where a JSON Pointer's last key is written in the text, found by looking for each key in
 * turn after the previous one: exact for the schemas people write, and at worst the start.
 */
export function locatePointer(text: string, pointer: string): { from: number; to: number } {
  let at = 0;
  let found = { from: 0, to: Math.min(text.length, 1) };
  for (const key of pointer.split('/').filter(Boolean)) {
    if (/^\d+$/.test(key)) continue;
    const quoted = JSON.stringify(key);
    const i = text.indexOf(quoted, at);
    if (i < 0) break;
    found = { from: i, to: i + quoted.length };
    at = i + quoted.length;
  }
  return found;
}

/** The first problem in a JSON object given as text (templates, headers …); null when fine. */
export function checkJsonObjectText(text: string, optional = true): string | null {
  if (optional && text.trim() === '') return null;
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? null : 'Must be a JSON object, e.g. { "name": "{{ input.name }}" }.';
  } catch (err) {
    return `Not valid JSON: ${(err as Error).message}`;
  }
}
