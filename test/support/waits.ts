/**
 * Helpers of the waits and child-run tests: a published version-2 workflow stored as it is
 * (the engine's view; validation at save is the catalog's), and a worker whose executor
 * resolves each step's input with the runner's mapping — `run.waits` links included, through
 * the same wrapper the worker command uses — and answers it as the step's output.
 */
import { withWaitLinks } from '../../src/cli/wait-links-executor.ts';
import type { Clock } from '../../src/engine/deps.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import type { StepRequest, StepResult } from '../../src/model/step.ts';
import { runnerMapping } from '../../src/runner/mapping-evaluator.ts';
import { resolveMapping, stepScope } from '../../src/runner/mapping.ts';
import type { SecretBox } from '../../src/security/crypto/secret-box.ts';
import { createWaitTokens } from '../../src/security/wait-tokens.ts';
import type { TestDatabase } from './db.ts';
import { engineDeps, scriptedExecutor } from './engine-factories.ts';

export { publishV2 } from './engine-v2.ts';

/**
 * A worker whose action steps answer their resolved input (`fail: true` in it fails the step
 * with E_TEST_FAILED... as E_HTTP_STATUS, not retryable); `onStep` sees every request first.
 */
export function startEchoWorker(
  db: TestDatabase,
  secretBox: SecretBox,
  opts: {
    publicUrl?: string;
    onStep?: (req: StepRequest) => void | Promise<void>;
    /** The engine's clock (a fake one moves waits' deadlines by hand). */
    clock?: Clock;
  } = {},
): Worker & { calls: StepRequest[] } {
  const inner = scriptedExecutor(async (req): Promise<StepResult> => {
    await opts.onStep?.(req);
    const input = resolveMapping(req.step.input, stepScope(req.context)) as Record<string, unknown>;
    if (input && typeof input === 'object' && input.fail === true)
      return {
        status: 'failed',
        input,
        error: { code: 'E_HTTP_STATUS', message: 'told to fail', retryable: false },
      };
    return { status: 'succeeded', input, output: input };
  });
  const executor = withWaitLinks(inner, {
    pool: db.pool,
    waitTokens: createWaitTokens({ secretBox, publicUrl: opts.publicUrl ?? 'http://127.0.0.1' }),
  });
  const worker = createWorker(engineDeps(db.pool, opts.clock ? { clock: opts.clock } : {}), {
    executor,
    listenUrl: db.appUrl,
    mapping: runnerMapping,
  });
  worker.start();
  return Object.assign(worker, { calls: inner.calls });
}

export async function runRow(db: TestDatabase, runId: string) {
  const r = await db.ownerPool.query<{
    status: string;
    output: Record<string, unknown> | null;
    error: { code?: string; message?: string } | null;
    parent_run_id: string | null;
    trace_context: string | null;
  }>(
    'select status, output, error, parent_run_id, trace_context from workflow_runs where id = $1',
    [runId],
  );
  return r.rows[0]!;
}

export async function stepRows(db: TestDatabase, runId: string) {
  const r = await db.ownerPool.query<{
    step_id: string;
    status: string;
    output: unknown;
    error_code: string | null;
    child_run_id: string | null;
  }>(
    `select step_id, status, output, error_code, child_run_id from step_runs
      where run_id = $1 order by step_index, attempt`,
    [runId],
  );
  return r.rows;
}
