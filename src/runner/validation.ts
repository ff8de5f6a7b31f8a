/**
 * JSON Schema validation of step inputs and outputs (ajv). Schemas arrive as data with every
 * step, so compiled validators are cached by the schema's text: each distinct schema is
 * compiled once per process. The cache is bounded; the oldest entry goes first.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { SwitchyardError } from '../model/errors.ts';

const MAX_CACHED = 1_000;

// ajv-formats is CommonJS with a default export; under NodeNext it arrives wrapped.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export type SchemaValidator = {
  /** Throws E_STEP_INPUT_INVALID / E_STEP_OUTPUT_INVALID naming the field. Fills defaults. */
  validate(kind: 'input' | 'output', schema: unknown, value: unknown): void;
  /** How many schemas were compiled (for tests of the cache). */
  readonly compiled: number;
};

export function createSchemaValidator(): SchemaValidator {
  // Draft 2020-12, like the save-time check (model/json-schema.ts): what is accepted runs.
  const ajv = new Ajv2020({ allErrors: true, strict: false, useDefaults: true });
  addFormats(ajv);
  const cache = new Map<string, ValidateFunction>();
  let compiled = 0;

  function compile(schema: unknown): ValidateFunction {
    const key = JSON.stringify(schema ?? {});
    const hit = cache.get(key);
    if (hit) return hit;
    let fn: ValidateFunction;
    try {
      fn = ajv.compile(typeof schema === 'object' && schema !== null ? schema : {});
    } catch (err) {
      throw new SwitchyardError(
        'E_ACTION_INVALID',
        `The action's JSON Schema does not compile: ${(err as Error).message}`,
      );
    }
    compiled++;
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(key, fn);
    return fn;
  }

  return {
    validate(kind, schema, value) {
      const fn = compile(schema);
      if (fn(value)) return;
      const problems = (fn.errors ?? []).slice(0, 5).map((e) => describe(kind, e));
      throw new SwitchyardError(
        kind === 'input' ? 'E_STEP_INPUT_INVALID' : 'E_STEP_OUTPUT_INVALID',
        `The step ${kind} does not match the action's ${kind}Schema: ${problems.join('; ')}`,
        { problems },
      );
    },
    get compiled() {
      return compiled;
    },
  };
}

function describe(kind: string, e: ErrorObject): string {
  const path = `${kind}${e.instancePath.replace(/\//g, '.').replace(/\.(\d+)(?=\.|$)/g, '[$1]')}`;
  if (e.keyword === 'required')
    return `${path}.${String((e.params as { missingProperty: string }).missingProperty)} is required`;
  if (e.keyword === 'additionalProperties')
    return `${path}.${String((e.params as { additionalProperty: string }).additionalProperty)} is not allowed`;
  return `${path} ${e.message ?? 'is invalid'}`;
}
