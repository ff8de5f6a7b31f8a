/**
 * Version-2 switch through the real engine and PostgreSQL: the branch taken, the steps of the
 * others recorded `skipped`, the join seeing the chosen branch's outputs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import type { ActionId, TenantId } from '../../src/model/ids.ts';
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

/** Each action step answers its resolved input as its output. */
function startWorker() {
  const executor = mappingExecutor((_id, input) => ({ status: 'succeeded', input, output: input }));
  const w = createWorker(engineDeps(db.pool), {
    executor,
    listenUrl: db.appUrl,
    mapping: runnerMapping,
  });
  workers.push(w);
  w.start();
  return executor;
}

const step = (id: string, input: unknown = {}) => ({ id, actionId: act, input });

const routing = () => ({
  version: 2,
  steps: [
    step('fetch', { size: '{{ trigger.size }}' }),
    {
      id: 'route',
      type: 'switch',
      branches: [
        {
          name: 'big',
          when: '{{ steps.fetch.output.size.big }}',
          steps: [step('big_one', { n: 1 }), step('big_two', { n: 2 })],
        },
        {
          name: 'small',
          when: '{{ steps.fetch.output.size.small }}',
          steps: [
            {
              id: 'inner',
              type: 'switch',
              branches: [{ name: 'tiny', when: '{{ trigger.tiny }}', steps: [step('tiny')] }],
            },
          ],
        },
      ],
      default: { steps: [step('other', { default: true })] },
    },
    step('join', { route: '{{ steps.route.output.branch }}' }),
  ],
});

describe('switch', () => {
  it('runs the first branch whose when is truthy, records the others skipped, rejoins', async () => {
    const executor = startWorker();
    const { workflowId } = await makeWorkflowV2(db.pool, tenantId, routing());
    const { runId } = await startRun(engineDeps(db.pool), {
      tenantId,
      workflowId,
      input: { size: { big: true, small: true } },
    });
    const run = await finalRun(db, runId);
    expect(run.error).toBeNull();
    expect(run.status).toBe('succeeded');
    const rows = await stepRunsOf(db, runId);
    expect(rows.map((r) => [r.step_index, r.step_id, r.status, r.branch])).toEqual([
      [0, 'fetch', 'succeeded', null],
      [1, 'route', 'succeeded', 'big'],
      [2, 'big_one', 'succeeded', null],
      [3, 'big_two', 'succeeded', null],
      [4, 'inner', 'skipped', null],
      [5, 'tiny', 'skipped', null],
      [6, 'other', 'skipped', null],
      [7, 'join', 'succeeded', null],
    ]);
    expect(rows[1]!.output).toEqual({ branch: 'big' });
    expect(rows[7]!.output).toEqual({ route: 'big' });
    // The executor saw only the action steps of the path taken.
    expect(executor.calls.map((c) => c.step.id)).toEqual(['fetch', 'big_one', 'big_two', 'join']);
    expect(run.output).toMatchObject({
      big_one: { n: 1 },
      big_two: { n: 2 },
      join: { route: 'big' },
    });
  });

  it('goes to a nested switch; with no branch truthy and no default, straight to the join', async () => {
    startWorker();
    const { workflowId } = await makeWorkflowV2(db.pool, tenantId, routing());
    const { runId } = await startRun(engineDeps(db.pool), {
      tenantId,
      workflowId,
      input: { size: { big: false, small: true }, tiny: false },
    });
    expect((await finalRun(db, runId)).status).toBe('succeeded');
    const rows = await stepRunsOf(db, runId);
    expect(rows.map((r) => [r.step_id, r.status, r.branch])).toEqual([
      ['fetch', 'succeeded', null],
      ['route', 'succeeded', 'small'],
      ['big_one', 'skipped', null],
      ['big_two', 'skipped', null],
      ['inner', 'succeeded', 'default'],
      ['tiny', 'skipped', null],
      ['other', 'skipped', null],
      ['join', 'succeeded', null],
    ]);
    expect(rows[4]!.output).toEqual({ branch: 'default' });
  });

  it('takes the default when no branch is truthy', async () => {
    startWorker();
    const { workflowId } = await makeWorkflowV2(db.pool, tenantId, routing());
    const { runId } = await startRun(engineDeps(db.pool), {
      tenantId,
      workflowId,
      input: { size: { big: 0, small: '' } },
    });
    const run = await finalRun(db, runId);
    expect(run.status).toBe('succeeded');
    const rows = await stepRunsOf(db, runId);
    expect(rows.filter((r) => r.status !== 'skipped').map((r) => r.step_id)).toEqual([
      'fetch',
      'route',
      'other',
      'join',
    ]);
    expect(run.output).toMatchObject({ join: { route: 'default' } });
  });

  it('a falsy if skips the switch and its branches; a when that does not resolve fails the step', async () => {
    startWorker();
    const { workflowId } = await makeWorkflowV2(db.pool, tenantId, {
      version: 2,
      steps: [
        {
          id: 'maybe',
          type: 'switch',
          if: '{{ trigger.go }}',
          branches: [{ name: 'a', when: 'true', steps: [step('a1')] }],
        },
        {
          id: 'broken',
          type: 'switch',
          branches: [{ name: 'b', when: '{{ nothing.here }}', steps: [step('b1')] }],
        },
      ],
    });
    const { runId } = await startRun(engineDeps(db.pool), {
      tenantId,
      workflowId,
      input: { go: false },
    });
    const run = await finalRun(db, runId);
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'E_MAPPING_INVALID', stepId: 'broken', stepIndex: 2 });
    const rows = await stepRunsOf(db, runId);
    expect(rows.map((r) => [r.step_id, r.status])).toEqual([
      ['maybe', 'skipped'],
      ['a1', 'skipped'],
      ['broken', 'failed'],
    ]);
  });
});
