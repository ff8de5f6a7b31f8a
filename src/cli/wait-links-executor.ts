/**
 * `{{ run.waits.<stepId>.token }}` / `.url` for the steps that use them: a wrapper of the
 * StepExecutor that derives the links a step's input or condition names (security/
 * wait-tokens.ts) and hands them to the runner in `context.waits`, which the mapping resolves
 * (runner/mapping.ts). A step that names no wait — every version-1 step — costs one scan of its
 * input for the text `run.waits`; one that does costs a read of the tenant's data key (its
 * unwrapped key is cached by the secret box).
 */
import type pg from 'pg';
import { withTenant } from '../db/tenant.ts';
import type { StepExecutor } from '../model/step.ts';
import type { WaitTokens } from '../security/wait-tokens.ts';

// `run.waits.<id>` or `run.waits["<id>"]`, also inside a `??` chain (a regex, not parsePath).
const WAIT_REFERENCE =
  /\brun\s*\.\s*waits\s*(?:\.\s*([a-z][a-z0-9_]*)|\[\s*"([a-z][a-z0-9_]*)"\s*\])/g;

/** The wait step ids `template` (any JSON) references, in order, without repeats. */
export function waitReferencesIn(template: unknown, out = new Set<string>()): Set<string> {
  if (typeof template === 'string') {
    if (template.includes('waits'))
      for (const m of template.matchAll(WAIT_REFERENCE)) out.add((m[1] ?? m[2])!);
  } else if (Array.isArray(template)) {
    for (const v of template) waitReferencesIn(v, out);
  } else if (template !== null && typeof template === 'object') {
    for (const v of Object.values(template)) waitReferencesIn(v, out);
  }
  return out;
}

export function withWaitLinks(
  inner: StepExecutor,
  deps: { pool: pg.Pool; waitTokens: WaitTokens },
): StepExecutor {
  return {
    async execute(request, signal) {
      const ids = waitReferencesIn([request.step.input, request.step.if ?? null]);
      if (ids.size === 0) return inner.execute(request, signal);
      const { tenantId, runId } = request.context;
      const waits = await withTenant(deps.pool, tenantId, (db) =>
        deps.waitTokens.linksFor(db, { tenantId, runId }, [...ids]),
      );
      return inner.execute({ ...request, context: { ...request.context, waits } }, signal);
    },
  };
}
