/**
 * Checks a request against an OpenAPI 3.0 operation, for fakes of real APIs: ajv reads 3.0's
 * `nullable` next to `type`; GitHub also puts it next to `oneOf`, spelled out here.
 */
export function nullableOneOf(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(nullableOneOf);
  if (schema === null || typeof schema !== 'object') return schema;
  const out = Object.fromEntries(
    Object.entries(schema).map(([k, v]) => [k, nullableOneOf(v)]),
  ) as Record<string, unknown>;
  if (out.nullable === true && out.type === undefined) {
    delete out.nullable;
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}
