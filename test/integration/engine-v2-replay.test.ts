/**
 * Replay of a version-2 run through the real engine and PostgreSQL: a run that failed inside a
 * switch branch resumes at the failed step, in that branch, with the outputs (and the path)
 * of the steps before it; one that failed after a goto keeps its `{{ error }}`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { replayDeadLetter } from '../../src/engine/dead-letter.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import type { ActionId, RunId, TenantId } from '../../src/model/ids.ts';
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
const workers: Worker[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
  act = await makeAction(db.pool, tenantId);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  await db.drop();
});

/** `broken` steps fail while `state.broken` holds; the rest answer their resolved input. */
function startWorker(state: { broken: boolean }) {
  const executor = mappingExecutor((id, input) =>
    id === 'broken' && state.broken
      ? {
          status: 'failed',
          input,
          error: { code: 'E_UPSTREAM_REJECTED', message: 'no', retryable: false },
        }
      : { status: 'succeeded', input, output: input },
  );
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

async function replay(runId: RunId) {
  const dl = await db.ownerPool.query<{ id: string }>(
    'select id from dead_letters where run_id = $1',
    [runId],
  );
  const r = await replayDeadLetter(engineDeps(db.pool), {
    tenantId,
    deadLetterId: dl.rows[0]!.id,
    from: 'failed-step',
    actor: { kind: 'system', id: null },
  });
  return r.newRunId;
}

describe('replay of a version-2 run', () => {
  it('resumes inside the branch it died in, with the outputs and the path before it', async () => {
    const state = { broken: true };
    const executor = startWorker(state);
    const { workflowId } = await makeWorkflowV2(db.pool, tenantId, {
      version: 2,
      steps: [
        step('fetch', { kind: '{{ trigger.kind }}' }),
        {
          id: 'route',
          type: 'switch',
          branches: [
            { name: 'a', when: '{{ trigger.a }}', steps: [step('a1')] },
            {
              name: 'b',
              when: 'true',
              steps: [
                step('b1', { n: 1 }),
                step('broken', { k: '{{ steps.b1.output.n }}' }),
                step('b3'),
              ],
            },
          ],
        },
        step('join', {
          branch: '{{ steps.route.output.branch }}',
          k: '{{ steps.broken.output.k }}',
        }),
      ],
    });
    const { runId } = await startRun(engineDeps(db.pool), {
      tenantId,
      workflowId,
      input: { kind: 'x', a: false },
    });
    const failed = await finalRun(db, runId);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ stepId: 'broken', stepIndex: 4 });

    state.broken = false;
    executor.calls.length = 0;
    const newRunId = await replay(runId);
    const final = await finalRun(db, newRunId);
    expect(final.status).toBe('succeeded');
    // Only the failed step and what follows it ran again, in the branch.
    expect(executor.calls.map((c) => c.step.id)).toEqual(['broken', 'b3', 'join']);
    expect(executor.calls[0]!.context.steps).toEqual({
      b1: { output: { n: 1 } },
      fetch: { output: { kind: 'x' } },
      route: { output: { branch: 'b' } },
    });
    const rows = await stepRunsOf(db, newRunId);
    expect(rows.map((r) => [r.step_index, r.step_id, r.status, r.branch])).toEqual([
      [0, 'fetch', 'succeeded', null],
      [1, 'route', 'succeeded', 'b'],
      [3, 'b1', 'succeeded', null],
      [4, 'broken', 'succeeded', null],
      [5, 'b3', 'succeeded', null],
      [6, 'join', 'succeeded', null],
    ]);
    expect(final.output).toMatchObject({ join: { branch: 'b', k: 1 } });
  });

  it('a run that failed after a goto is replayed with the {{ error }} the goto took over', async () => {
    const state = { broken: true };
    const executor = startWorker(state);
    const { workflowId } = await makeWorkflowV2(db.pool, tenantId, {
      version: 2,
      steps: [
        // `charge` fails (the executor fails `broken` only: this one is a broken action id).
        {
          id: 'charge',
          actionId: '00000000-0000-4000-8000-000000000000',
          onError: { goto: 'handle' },
        },
        step('jumped'),
        step('handle'),
        step('broken'),
      ],
    });
    const { runId } = await startRun(engineDeps(db.pool), { tenantId, workflowId, input: {} });
    const failed = await finalRun(db, runId);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ stepId: 'broken' });
    const taken = { code: 'E_ACTION_NOT_FOUND', stepId: 'charge' };
    expect(executor.calls.find((c) => c.step.id === 'broken')!.context.error).toMatchObject(taken);

    state.broken = false;
    executor.calls.length = 0;
    const final = await finalRun(db, await replay(runId));
    expect(final.status).toBe('succeeded');
    expect(executor.calls.map((c) => [c.step.id, c.context.error])).toEqual([
      ['broken', expect.objectContaining(taken)],
    ]);
  });
});
