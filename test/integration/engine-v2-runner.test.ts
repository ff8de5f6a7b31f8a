/**
 * A version-2 run through the real engine, the real runner (the composition root's executor,
 * JavaScript code steps in their sandbox) and the runner's mapping for the control steps, as
 * `switchyard worker` wires them: a switch on a code step's output, a delay, the join.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStepExecutor } from '../../src/cli/executor.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker } from '../../src/engine/worker.ts';
import type { ActionId, TenantId } from '../../src/model/ids.ts';
import { runnerMapping } from '../../src/runner/mapping-evaluator.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps } from '../support/engine-factories.ts';
import { finalRun, makeWorkflowV2, stepRunsOf } from '../support/engine-v2.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let tenantId: TenantId;
let js: ActionId;
beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
  const r = await db.ownerPool.query<{ id: ActionId }>(
    `select a.id from actions a join apps ap on ap.tenant_id = a.tenant_id and ap.id = a.app_id
      where a.tenant_id = $1 and ap.key = 'javascript' and a.kind = 'javascript'`,
    [tenantId],
  );
  js = r.rows[0]!.id;
});
afterAll(async () => {
  await db.drop();
});

const code = (id: string, source: string, input: Record<string, unknown> = {}) => ({
  id,
  actionId: js,
  input: { code: source, ...input },
});

it('runs a switch on a code step, waits, and joins, with the runner executing the actions', async () => {
  const worker = createWorker(engineDeps(db.pool), {
    executor: createStepExecutor({ logger: testLogger, pool: db.pool }),
    listenUrl: db.appUrl,
    mapping: runnerMapping,
  });
  worker.start();
  try {
    const { workflowId } = await makeWorkflowV2(db.pool, tenantId, {
      version: 2,
      steps: [
        code('total', 'return { total: input.a + input.b, big: input.a + input.b > 10 };', {
          a: '{{ trigger.a }}',
          b: '{{ trigger.b }}',
        }),
        {
          id: 'size',
          type: 'switch',
          branches: [
            {
              name: 'big',
              when: '{{ steps.total.output.big }}',
              steps: [
                code('big', 'return { label: "big " + input.t };', {
                  t: '{{ steps.total.output.total }}',
                }),
              ],
            },
          ],
          default: { steps: [code('small', 'return { label: "small" };')] },
        },
        { id: 'pause', type: 'delay', duration: '300ms' },
        code('done', 'return { via: input.via };', { via: '{{ steps.size.output.branch }}' }),
      ],
    });
    const big = await startRun(engineDeps(db.pool), {
      tenantId,
      workflowId,
      input: { a: 7, b: 8 },
    });
    const small = await startRun(engineDeps(db.pool), {
      tenantId,
      workflowId,
      input: { a: 1, b: 2 },
    });
    const [b, s] = [await finalRun(db, big.runId), await finalRun(db, small.runId)];
    expect(b.error).toBeNull();
    expect(b.status).toBe('succeeded');
    expect(b.output).toMatchObject({ big: { label: 'big 15' }, done: { via: 'big' } });
    expect(s.output).toMatchObject({ small: { label: 'small' }, done: { via: 'default' } });
    expect((await stepRunsOf(db, small.runId)).map((r) => [r.step_id, r.status])).toEqual([
      ['total', 'succeeded'],
      ['size', 'succeeded'],
      ['big', 'skipped'],
      ['small', 'succeeded'],
      ['pause', 'succeeded'],
      ['done', 'succeeded'],
    ]);
  } finally {
    await worker.stop();
  }
});
