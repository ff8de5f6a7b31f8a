/**
 * Checks of `{{ run.waits.<stepId>.token|url }}` at save (definition version 2), for the
 * definition validator (catalog/definition-v2.ts) to call on each reference it walks:
 *
 *   const waits = waitForEventIds(definition);             // once per definition
 *   const problem = waitReferenceProblem(segments, waits);  // per reference, segments from parsePath
 *   if (problem) → E_VALIDATION at the reference's JSON path, with `problem` as the message
 *
 * A wait's token exists from the run's start (it is derived, not stored: security/
 * wait-tokens.ts), so any step may reference any waitForEvent step's links, before it too.
 */
import type { StepV2 } from '../model/workflow-v2.ts';

type DefinitionLike = { steps?: unknown; onFailure?: { steps?: unknown } | null };

/** The ids of every waitForEvent step of the definition, nested blocks and onFailure included. */
export function waitForEventIds(definition: DefinitionLike): Set<string> {
  const out = new Set<string>();
  const walk = (steps: unknown): void => {
    if (!Array.isArray(steps)) return;
    for (const raw of steps as StepV2[]) {
      if (typeof raw !== 'object' || raw === null) continue;
      if (raw.type === 'waitForEvent' && typeof raw.id === 'string') out.add(raw.id);
      if (raw.type === 'switch') {
        for (const b of Array.isArray(raw.branches) ? raw.branches : []) walk(b?.steps);
        walk(raw.default?.steps);
      }
      if (raw.type === 'forEach') walk(raw.steps);
    }
  };
  walk(definition.steps);
  walk(definition.onFailure?.steps);
  return out;
}

/**
 * Why a reference path is not a valid wait link, or null when it is fine (or is not a
 * `run.waits` reference at all). `segments`: the path as parsePath (model/mapping-syntax.ts)
 * returns it, e.g. ['run', 'waits', 'approve', 'url'].
 */
export function waitReferenceProblem(
  segments: readonly (string | number)[],
  waitIds: ReadonlySet<string>,
): string | null {
  if (segments[0] !== 'run' || segments[1] !== 'waits') return null;
  const id = segments[2];
  const known = [...waitIds].join(', ');
  if (typeof id !== 'string' || !waitIds.has(id))
    return `run.waits.${String(id ?? '')} names no waitForEvent step${known ? ` (waitForEvent steps: ${known})` : ' (the definition has none)'}`;
  const field = segments[3];
  if (segments.length !== 4 || (field !== 'token' && field !== 'url'))
    return `run.waits.${id} has two fields: use {{ run.waits.${id}.token }} or {{ run.waits.${id}.url }}`;
  return null;
}
