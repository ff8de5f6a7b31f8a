/**
 * OpenAPI schema objects (Swagger 2.0, OpenAPI 3.0 and 3.1) to the JSON Schema (draft
 * 2020-12) that actions store and the runner validates with ajv. `$ref`s are expanded here,
 * not by the parser, so that the depth of expansion is bounded: GitHub's `repository` refers
 * to itself through `template_repository`, and even its acyclic graph, expanded whole for 1,000
 * operations, would store hundreds of megabytes. Past the bound (or on a cycle) a reference
 * becomes `{}` (any value) with a description naming what it was.
 */

/** A `$ref` expanded deeper than this becomes `{}`; 3 keeps GitHub's issue → user → plan. */
export const MAX_REF_DEPTH = 3;
/** Nesting of inline schemas (without `$ref`) beyond this is cut the same way. */
const MAX_NESTING = 24;

/**
 * Formats the runner checks (ajv-formats) that OpenAPI documents use with the same meaning.
 * Others (int32, binary, OpenAPI's `uri` on URL templates…) are dropped: ajv would warn about
 * the unknown ones on every compile, and a strict `uri` rejects values the APIs really send.
 */
const KEPT_INPUT_FORMATS = new Set(['date-time', 'date', 'time', 'email', 'uuid']);

/** Keywords of OpenAPI that are not JSON Schema, or that describe only documentation. */
const DROPPED = new Set([
  'nullable',
  'x-nullable',
  'discriminator',
  'xml',
  'externalDocs',
  'example',
  'examples',
  'deprecated',
  'collectionFormat',
  '$schema',
  '$id',
  '$anchor',
  '$dynamicAnchor',
  '$dynamicRef',
  '$comment',
]);
const SUBSCHEMA_MAPS = [
  'properties',
  'patternProperties',
  '$defs',
  'definitions',
  'dependentSchemas',
];
const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SUBSCHEMA_ONE = [
  'additionalProperties',
  'not',
  'contains',
  'if',
  'then',
  'else',
  'propertyNames',
  'unevaluatedProperties',
  'unevaluatedItems',
];

export type SchemaPurpose = 'input' | 'output';

export type SchemaConverter = {
  convert(schema: unknown, purpose: SchemaPurpose): Record<string, unknown> | boolean;
  /** Follows a local `$ref` (`#/components/parameters/owner`) to its object, if any. */
  resolve<T>(value: T | { $ref: string }): T | undefined;
};

type Frame = { refs: string[]; nesting: number; purpose: SchemaPurpose };

export function createSchemaConverter(
  document: Record<string, unknown>,
  maxRefDepth = MAX_REF_DEPTH,
): SchemaConverter {
  const pointerCache = new Map<string, unknown>();

  function pointer(ref: string): unknown {
    if (pointerCache.has(ref)) return pointerCache.get(ref);
    let value: unknown = undefined;
    if (ref.startsWith('#')) {
      value = document;
      const parts = ref.slice(1).split('/').slice(1);
      for (const raw of parts) {
        const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
        if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) {
          value = undefined;
          break;
        }
        value = (value as Record<string, unknown>)[key];
      }
    }
    pointerCache.set(ref, value);
    return value;
  }

  function resolve<T>(value: T | { $ref: string }): T | undefined {
    let v: unknown = value;
    for (let hops = 0; hops < 20 && isRef(v); hops++) v = pointer(v.$ref);
    return isRef(v) ? undefined : (v as T | undefined);
  }

  function convertAt(schema: unknown, f: Frame): Record<string, unknown> | boolean {
    if (typeof schema === 'boolean') return schema;
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return {};
    const s = schema as Record<string, unknown>;
    if (isRef(s)) {
      const ref = s.$ref;
      const name = ref.split('/').pop() ?? ref;
      if (f.refs.includes(ref) || f.refs.length >= maxRefDepth)
        return { description: `${name} (not expanded: see the OpenAPI document)` };
      const target = pointer(ref);
      if (target === undefined) return { description: `${name} (unresolved reference ${ref})` };
      // 3.1 allows siblings next to $ref (description, nullable in 3.0 extensions…).
      const siblings = Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$ref'));
      const inner = convertAt(target, { ...f, refs: [...f.refs, ref] });
      if (Object.keys(siblings).length === 0) return inner;
      const outer = convertAt(siblings, f);
      if (typeof inner === 'boolean' || typeof outer === 'boolean') return inner;
      return { ...inner, ...outer };
    }
    if (f.nesting >= MAX_NESTING) return { description: 'nested too deep to expand' };
    const next: Frame = { ...f, nesting: f.nesting + 1 };
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(s)) {
      if (DROPPED.has(key) || key.startsWith('x-')) continue;
      if (SUBSCHEMA_MAPS.includes(key) && isObject(value)) {
        out[key] = Object.fromEntries(
          Object.entries(value).map(([k, v]) => [k, convertAt(v, next)]),
        );
      } else if (SUBSCHEMA_LISTS.includes(key) && Array.isArray(value)) {
        out[key] = value.map((v) => convertAt(v, next));
      } else if (SUBSCHEMA_ONE.includes(key) && (isObject(value) || typeof value === 'boolean')) {
        out[key] = convertAt(value, next);
      } else if (key === 'items') {
        // Draft 4 tuple form (an array of schemas) is prefixItems in 2020-12.
        if (Array.isArray(value)) out.prefixItems = value.map((v) => convertAt(v, next));
        else out.items = convertAt(value, next);
      } else if (key === 'format') {
        if (f.purpose === 'input' && typeof value === 'string' && KEPT_INPUT_FORMATS.has(value))
          out.format = value;
      } else if (key === 'type') {
        out.type = value === 'file' ? 'string' : value;
      } else if (key === 'required') {
        // An API's answers drift from its description: an output missing a documented field
        // must not fail a step that got what it asked for (types are still checked).
        if (f.purpose === 'input' && Array.isArray(value) && value.length > 0) out.required = value;
      } else if (key === 'default') {
        // Kept in the description: a filled-in default would add to the request what the
        // builder did not ask for (the API applies its own defaults).
        out.description = appendDefault(s.description, value);
      } else if (key === 'exclusiveMinimum' || key === 'exclusiveMaximum') {
        // OpenAPI 3.0 / Swagger: a boolean next to minimum/maximum; 3.1: the bound itself.
        if (typeof value === 'number') out[key] = value;
      } else if (key === 'description') {
        out.description ??= value;
      } else {
        out[key] = value;
      }
    }
    for (const [flag, bound] of [
      ['exclusiveMinimum', 'minimum'],
      ['exclusiveMaximum', 'maximum'],
    ] as const) {
      if (s[flag] === true && typeof s[bound] === 'number') {
        out[flag] = s[bound];
        delete out[bound];
      }
    }
    if (s.nullable === true || s['x-nullable'] === true) makeNullable(out);
    return out;
  }

  return {
    convert: (schema, purpose) => convertAt(schema, { refs: [], nesting: 0, purpose }),
    resolve,
  };
}

function makeNullable(out: Record<string, unknown>): void {
  const type = out.type;
  if (typeof type === 'string') out.type = [type, 'null'];
  else if (Array.isArray(type) && !type.includes('null'))
    out.type = [...(type as unknown[]), 'null'];
  else if (type === undefined) {
    // `oneOf` with `nullable: true` (GitHub's milestone): null is one more alternative.
    for (const key of ['oneOf', 'anyOf'] as const)
      if (Array.isArray(out[key])) {
        out[key] = [...(out[key] as unknown[]), { type: 'null' }];
        return;
      }
  }
  const values = out.enum;
  if (Array.isArray(values) && !values.includes(null)) out.enum = [...(values as unknown[]), null];
}

function appendDefault(description: unknown, value: unknown): string {
  const text = typeof description === 'string' && description !== '' ? `${description} ` : '';
  return `${text}(Default: ${JSON.stringify(value)}.)`.slice(0, 4000);
}

export function isRef(v: unknown): v is { $ref: string } {
  return isObject(v) && typeof v.$ref === 'string';
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
