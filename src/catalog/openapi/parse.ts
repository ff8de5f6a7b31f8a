/**
 * Reads an OpenAPI document (JSON or YAML text) and plans its import. CPU-bound for big
 * documents (GitHub's 13 MB takes about a second), so the API runs it in a worker thread
 * (run.ts); it is pure and also runs in-process in tests and the bench.
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import { parse as parseYaml } from 'yaml';
import { planImport, preparePlan, type ImportOptions, type PreparedPlan } from './convert.ts';
import { isObject } from './schema.ts';

/**
 * Full validation against the OpenAPI schemas dereferences the document, which for GitHub's
 * (circular, 13 MB) takes 7 s of CPU; above this size only the structure the import reads is
 * checked, and the plan says so.
 */
export const FULL_VALIDATION_MAX_CHARS = 2_000_000;

export type ParseFailure = { error: string };

export async function readAndPlan(
  text: string,
  options: ImportOptions,
): Promise<PreparedPlan | ParseFailure> {
  let doc: unknown;
  try {
    doc = /^\s*[{[]/.test(text) ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 1000 });
  } catch (err) {
    return { error: `The document is neither JSON nor YAML: ${(err as Error).message}` };
  }
  if (!isObject(doc)) return { error: 'The document is not an object.' };
  const version =
    typeof doc.openapi === 'string'
      ? doc.openapi
      : typeof doc.swagger === 'string'
        ? doc.swagger
        : null;
  if (!version || !/^(2\.0|3\.[01]\.\d+)$/.test(version))
    return {
      error: 'Not an OpenAPI document: expected "openapi": "3.0.x" / "3.1.x" or "swagger": "2.0".',
    };
  // No external $refs: the parser would fetch them itself, around the outgoing gate.
  const opts: SwaggerParser.Options = {
    resolve: { external: false },
    dereference: { circular: 'ignore' },
  };
  const copy = structuredClone(doc) as unknown as Parameters<typeof SwaggerParser.validate>[0];
  const extraWarnings: string[] = [];
  try {
    if (text.length <= FULL_VALIDATION_MAX_CHARS) {
      // validate() dereferences its argument in place: give it a copy, keep the $refs here.
      await SwaggerParser.validate(copy, opts);
    } else {
      await SwaggerParser.parse(copy, opts);
      extraWarnings.push(
        `The document (${Math.round(text.length / 1_000_000)} MB) was checked for structure only, not against the full OpenAPI schema.`,
      );
    }
  } catch (err) {
    return { error: `The OpenAPI document is invalid: ${(err as Error).message.slice(0, 1000)}` };
  }
  const plan = planImport(doc, options);
  plan.warnings.unshift(...extraWarnings);
  return preparePlan(plan);
}
