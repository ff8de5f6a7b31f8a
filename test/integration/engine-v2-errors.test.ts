/**
 * Version-2 error handling through the real engine and PostgreSQL: onError continue and goto
 * (with `{{ error }}` in the step context), and the onFailure path (the run still ends with its
 * original status and error; its dead letter is written when the path is done).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import type { ActionId, RunId, TenantId } from '../../src/model/ids.ts';
import type { StepRequest, StepResult } from '../../src/model/step.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction } from '../support/engine-factories.ts';
import {
  finalRun,
  makeWorkflowV2,
  mappingExecutor,
  runnerMapping,
  stepRunsOf,
} from '../support/engine-v2.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let tenantId: TenantId;
let act: ActionId;
let retrying: ActionId;
const workers: Worker[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
  act = await makeAction(db.pool, tenantId);
  retrying = await makeAction(db.pool, tenantId, {
    retryStrategy: 'fixed',
    maxAttempts: 2,
    initialDelayMs: 10,
  });
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  await db.drop();
});

const boom = (retryable = false): StepResult => ({
  status: 'failed',
  input: {},
  error: { code: 'E_UPSTREAM_UNAVAILABLE', message: 'upstream said no', retryable },
});

/** Steps whose input has `fail: true` fail; others answer their input. Every request is kept. */
function startWorker(fail: (req: StepRequest, input: unknown) => StepResult | null = () => null) {
  const executor = mappingExecutor((_id, input, req) => {
    const failed = (input as { fail?: unknown }).fail === true ? boom() : fail(req, input);
    return failed ?? { status: 'succeeded', input, output: input };
  });
  const w = createWorker(engineDeps(db.pool), {
    executor,
    listenUrl: db.appUrl,
    mapping: runnerMapping,
  });
  workers.push(w);
  w.start();
  return executor;
}

const step = (id: string, input: unknown = {}, extra: Record<string, unknown> = {}) => ({
  id,
  actionId: act,
  input,
  ...extra,
});

async function run(definition: unknown, input: unknown = {}) {
  const { workflowId } = await makeWorkflowV2(db.pool, tenantId, definition);
  const { runId } = await startRun(engineDeps(db.pool), { tenantId, workflowId, input });
  return { runId, workflowId, final: await finalRun(db, runId) };
}

const deadLetters = async (runId: RunId) =>
  (
    await db.ownerPool.query<{ failed_step_id: string; error: unknown; context: unknown }>(
      'select failed_step_id, error, context from dead_letters where run_id = $1',
      [runId],
    )
  ).rows;

describe('onError', () => {
  it('continue: the failed step is recorded and the run goes on to its next step', async () => {
    startWorker();
    const { runId, final } = await run({
      version: 2,
      steps: [step('a', { fail: true }, { onError: 'continue' }), step('b', { n: 1 })],
    });
    expect(final.status).toBe('succeeded');
    expect((await stepRunsOf(db, runId)).map((r) => [r.step_id, r.status])).toEqual([
      ['a', 'failed'],
      ['b', 'succeeded'],
    ]);
  });

  it('goto: goes on at the target with {{ error }} set; the steps jumped over do not run', async () => {
    const executor = startWorker();
    const { runId, final } = await run({
      version: 2,
      steps: [
        step('first', { n: 0 }),
        step('charge', { fail: true }, { onError: { goto: 'recover' } }),
        step('ship'),
        step('recover', { n: 2 }),
        step('after', { n: 3 }),
      ],
    });
    expect(final.status).toBe('succeeded');
    expect(final.error).toBeNull();
    expect((await stepRunsOf(db, runId)).map((r) => [r.step_id, r.status])).toEqual([
      ['first', 'succeeded'],
      ['charge', 'failed'],
      ['recover', 'succeeded'],
      ['after', 'succeeded'],
    ]);
    const seen = Object.fromEntries(executor.calls.map((c) => [c.step.id, c.context.error]));
    const error = { code: 'E_UPSTREAM_UNAVAILABLE', message: 'upstream said no', stepId: 'charge' };
    expect(seen).toEqual({ first: null, charge: null, recover: error, after: error });
    expect(final.error_context).toEqual(error);
    expect(await deadLetters(runId)).toEqual([]);
  });

  it('goto out of a switch branch to a step after the join', async () => {
    startWorker();
    const { runId, final } = await run({
      version: 2,
      steps: [
        {
          id: 'route',
          type: 'switch',
          branches: [
            {
              name: 'a',
              when: 'true',
              steps: [step('in_a', { fail: true }, { onError: { goto: 'done' } }), step('a2')],
            },
          ],
        },
        step('join'),
        step('done', { ok: true }),
      ],
    });
    expect(final.status).toBe('succeeded');
    expect((await stepRunsOf(db, runId)).map((r) => [r.step_id, r.status])).toEqual([
      ['route', 'succeeded'],
      ['in_a', 'failed'],
      ['done', 'succeeded'],
    ]);
  });
});

describe('onFailure', () => {
  it('runs the failure path with {{ error }}, then ends failed with the original error and its dead letter', async () => {
    const executor = startWorker();
    const { runId, workflowId, final } = await run(
      {
        version: 2,
        steps: [step('load', { n: 1 }), step('charge', { fail: true }), step('never')],
        onFailure: { steps: [step('notify', { who: '{{ trigger.owner }}' }), step('cleanup')] },
      },
      { owner: 'ops' },
    );
    expect(final.status).toBe('failed');
    expect(final.error).toEqual({
      code: 'E_UPSTREAM_UNAVAILABLE',
      message: 'upstream said no',
      retryable: false,
      stepId: 'charge',
      stepIndex: 1,
    });
    expect((await stepRunsOf(db, runId)).map((r) => [r.step_id, r.status])).toEqual([
      ['load', 'succeeded'],
      ['charge', 'failed'],
      ['notify', 'succeeded'],
      ['cleanup', 'succeeded'],
    ]);
    const notify = executor.calls.find((c) => c.step.id === 'notify')!;
    expect(notify.context.error).toEqual({
      code: 'E_UPSTREAM_UNAVAILABLE',
      message: 'upstream said no',
      stepId: 'charge',
    });
    expect(notify.context.steps).toEqual({ load: { output: { n: 1 } } });
    // The dead letter is the original failure's: a replay resumes at `charge`.
    const letters = await deadLetters(runId);
    expect(letters).toEqual([
      {
        failed_step_id: 'charge',
        error: { code: 'E_UPSTREAM_UNAVAILABLE', message: 'upstream said no', retryable: false },
        context: { input: { owner: 'ops' }, steps: { load: { n: 1 } }, failedStepIndex: 1 },
      },
    ]);
    expect(workflowId).toBeTruthy();
  });

  it('a failing failure path still ends the run with the original error; dead stays dead', async () => {
    // `retrying` fails retryably twice: the run goes dead; the path's own step fails too.
    startWorker((req) => (req.step.id === 'flaky' ? boom(true) : null));
    const { runId, final } = await run({
      version: 2,
      steps: [{ id: 'flaky', actionId: retrying, input: {} }],
      onFailure: { steps: [step('alert', { fail: true }), step('unreached')] },
    });
    expect(final.status).toBe('dead');
    expect(final.error).toMatchObject({ code: 'E_UPSTREAM_UNAVAILABLE', stepId: 'flaky' });
    expect((await stepRunsOf(db, runId)).map((r) => [r.step_id, r.attempt, r.status])).toEqual([
      ['flaky', 1, 'failed'],
      ['flaky', 2, 'failed'],
      ['alert', 1, 'failed'],
    ]);
    expect((await deadLetters(runId)).map((l) => l.failed_step_id)).toEqual(['flaky']);
  });

  it('{{ error }} comes back from the run row when the path resumes on a fresh claim (a retry)', async () => {
    let calls = 0;
    const executor = startWorker((req) =>
      req.step.id === 'retry_me' && ++calls === 1 ? boom(true) : null,
    );
    const { final } = await run({
      version: 2,
      steps: [step('bad', { fail: true })],
      onFailure: { steps: [{ id: 'retry_me', actionId: retrying, input: {} }] },
    });
    expect(final.status).toBe('failed');
    const attempts = executor.calls.filter((c) => c.step.id === 'retry_me');
    expect(attempts.map((c) => [c.context.attempt, c.context.error?.stepId])).toEqual([
      [1, 'bad'],
      [2, 'bad'],
    ]);
  });

  it('a run without a failure path, or one that succeeds, is not touched by it', async () => {
    startWorker();
    const { runId, final } = await run({
      version: 2,
      steps: [step('fine', { n: 1 })],
      onFailure: { steps: [step('alert')] },
    });
    expect(final.status).toBe('succeeded');
    expect((await stepRunsOf(db, runId)).map((r) => r.step_id)).toEqual(['fine']);
    expect(final.output).toEqual({ fine: { n: 1 } });
  });
});
