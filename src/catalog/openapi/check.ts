/**
 * A fast check of generated schemas. Compiling every schema with ajv (what a hand-written
 * action gets at save, model/json-schema.ts) takes 39 s for GitHub's 1,223 operations and
 * meta-schema validation 2 s; the converter emits only JSON Schema keywords, so what can still
 * be wrong is what it copies from the document: a regex JavaScript cannot compile, a type name,
 * a malformed enum or required list. The runner compiles each schema on first use (cached).
 */
import { isObject } from './schema.ts';

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);

/** The first problem found, as a JSON pointer and a message; undefined when none. */
export function findSchemaProblem(schema: unknown, at = ''): string | undefined {
  if (typeof schema === 'boolean') return undefined;
  if (!isObject(schema)) return `${at || '/'}: a schema must be an object or a boolean`;
  for (const [key, value] of Object.entries(schema)) {
    const here = `${at}/${key}`;
    switch (key) {
      case 'type': {
        const list = Array.isArray(value) ? value : [value];
        if (!list.every((t) => typeof t === 'string' && TYPES.has(t)))
          return `${here}: unknown type ${JSON.stringify(value)}`;
        break;
      }
      case 'pattern':
        try {
          new RegExp(String(value), 'u');
        } catch {
          return `${here}: ${JSON.stringify(value)} is not a JavaScript regular expression`;
        }
        break;
      case 'enum':
        if (!Array.isArray(value)) return `${here}: must be a list`;
        break;
      case 'required':
        if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
          return `${here}: must be a list of names`;
        break;
      case 'properties':
      case 'patternProperties':
      case '$defs':
      case 'dependentSchemas':
        if (!isObject(value)) return `${here}: must be an object`;
        for (const [name, sub] of Object.entries(value)) {
          if (key === 'patternProperties') {
            try {
              new RegExp(name, 'u');
            } catch {
              return `${here}: ${JSON.stringify(name)} is not a JavaScript regular expression`;
            }
          }
          const p = findSchemaProblem(
            sub,
            `${here}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`,
          );
          if (p) return p;
        }
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
      case 'prefixItems':
        if (!Array.isArray(value) || value.length === 0)
          return `${here}: must be a non-empty list of schemas`;
        for (const [i, sub] of value.entries()) {
          const p = findSchemaProblem(sub, `${here}/${i}`);
          if (p) return p;
        }
        break;
      case 'items':
      case 'additionalProperties':
      case 'not':
      case 'contains':
      case 'if':
      case 'then':
      case 'else':
      case 'propertyNames':
      case 'unevaluatedProperties':
      case 'unevaluatedItems': {
        const p = findSchemaProblem(value, here);
        if (p) return p;
        break;
      }
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
      case 'multipleOf':
      case 'minLength':
      case 'maxLength':
      case 'minItems':
      case 'maxItems':
      case 'minProperties':
      case 'maxProperties':
        if (typeof value !== 'number') return `${here}: must be a number`;
        break;
      default:
        break;
    }
  }
  return undefined;
}
