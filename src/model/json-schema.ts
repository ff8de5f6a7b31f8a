import { Ajv2020 } from 'ajv/dist/2020.js';
import { SwitchyardError } from './errors.ts';

/**
 * Checks that a value is a usable JSON Schema (draft 2020-12, which also accepts the common
 * draft-07 keywords) before it is stored: an action whose schema cannot compile would fail
 * every step at run time instead of failing the save.
 */
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });

export function assertJsonSchema(schema: unknown, field: string): void {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    if (typeof schema === 'boolean') return;
    throw new SwitchyardError('E_VALIDATION', `${field} must be a JSON Schema object.`, { field });
  }
  if (!ajv.validateSchema(schema)) {
    const first = ajv.errors?.[0];
    const where = first?.instancePath ? ` at ${first.instancePath}` : '';
    throw new SwitchyardError(
      'E_VALIDATION',
      `${field} is not a valid JSON Schema${where}: ${first?.message ?? 'invalid'}.`,
      { field },
    );
  }
  try {
    ajv.compile(schema);
    // Validation only: do not keep every schema ever checked in the cache.
    ajv.removeSchema(schema);
  } catch (err) {
    throw new SwitchyardError(
      'E_VALIDATION',
      `${field} does not compile: ${(err as Error).message}`,
      { field },
    );
  }
}

const validators = new Map<string, ReturnType<typeof ajv.compile>>();
const MAX_CACHED_VALIDATORS = 500;

/** Validates a value against a stored schema; the error names the first wrong field. */
export function assertMatchesSchema(schema: unknown, value: unknown, field: string): void {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(schema as object);
    if (validators.size >= MAX_CACHED_VALIDATORS) validators.clear();
    validators.set(key, validate);
  }
  if (!validate(value)) {
    const first = validate.errors?.[0];
    const where = first?.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : '';
    throw new SwitchyardError(
      'E_VALIDATION',
      `${field}${where ? `.${where}` : ''} ${first?.message ?? 'is invalid'}.`,
      {
        field: where ? `${field}.${where}` : field,
      },
    );
  }
}
