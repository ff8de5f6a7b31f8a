/**
 * The compiled programs a worker keeps, by pinned version id: versions are immutable, so a
 * version's definition is compiled once per worker (compileProgram, model/compile-program.ts).
 */
import { compileProgram } from '../model/compile-program.ts';
import type { Program } from '../model/program.ts';

/** Programs a worker keeps; beyond this many versions the oldest compiled is dropped. */
const MAX_PROGRAMS = 1_000;

/** The program of a pinned version, compiled once per worker. */
export function programOf(
  deps: { programs?: Map<string, Program> },
  versionId: string,
  definition: unknown,
): Program {
  const cached = deps.programs?.get(versionId);
  if (cached) return cached;
  const program = compileProgram(definition);
  if (deps.programs) {
    if (deps.programs.size >= MAX_PROGRAMS)
      deps.programs.delete(deps.programs.keys().next().value!);
    deps.programs.set(versionId, program);
  }
  return program;
}
