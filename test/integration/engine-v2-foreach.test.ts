/**
 * forEach through the real engine and PostgreSQL: items run as jobs of their own, at most
 * `concurrency` at once, each with `loop.item`/`loop.index` and its own earlier outputs; the
 * output in item order; onItemError both ways; cancel mid-loop; an empty list.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cancelRun } from '../../src/engine/cancel.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import type { ActionId, RunId, TenantId } from '../../src/model/ids.ts';
import type { StepRequest, StepResult } from '../../src/model/step.ts';
import { runnerMapping } from '../../src/runner/mapping-evaluator.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  engineDeps,
  makeAction,
  ok,
  scriptedExecutor,
  sleep,
  waitFor,
} from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { jobCountOf, publishV2, runRowOf, stepRowsOf } from '../support/for-each-workflows.ts';

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

const deps = () => ({ ...engineDeps(db.pool, { config: { workerConcurrency: 16 } }) });

function startWorker(execute: (req: StepRequest) => Promise<StepResult> | StepResult) {
  const executor = scriptedExecutor(execute);
  const w = createWorker(deps(), { executor, listenUrl: db.appUrl, mapping: runnerMapping });
  workers.push(w);
  w.start();
  return executor;
}

const finished = (runId: RunId, timeoutMs = 20_000) =>
  waitFor(
    async () => {
      const r = await runRowOf(db.ownerPool, runId);
      return ['succeeded', 'failed', 'dead', 'canceled'].includes(r.status) && r;
    },
    { what: `run ${runId} to finish`, timeoutMs },
  );

/** list → forEach(body: a, b) → after. */
const loopWorkflow = (loop: Record<string, unknown> = {}) =>
  publishV2(db.pool, tenantId, {
    steps: [
      { id: 'list', actionId: act },
      {
        id: 'loop',
        type: 'forEach',
        items: '{{ steps.list.output.items }}',
        concurrency: 3,
        ...loop,
        steps: [
          { id: 'a', actionId: act, input: { item: '{{ loop.item }}' } },
          { id: 'b', actionId: act, input: { a: '{{ steps.a.output }}' } },
        ],
      },
      { id: 'after', actionId: act, input: { all: '{{ steps.loop.output }}' } },
    ],
  });

const itemOf = (req: StepRequest) => req.context.loop?.item as string;

describe('forEach', () => {
  it('runs the body once per item with loop.item/index and the item’s own outputs; output in item order', async () => {
    const workflowId = await loopWorkflow();
    const items = ['p', 'q', 'r', 's', 't', 'u', 'v'];
    const seen: { step: string; index: number | undefined; steps: string[] }[] = [];
    const executor = startWorker(async (req) => {
      seen.push({
        step: req.step.id,
        index: req.context.loop?.index,
        steps: Object.keys(req.context.steps).sort(),
      });
      if (req.step.id === 'list') return ok({ items, tag: 'T' });
      // Later items end first: the output must still be in item order.
      if (req.step.id === 'a') {
        await sleep(5 * (items.length - req.context.loop!.index));
        return ok({ upper: itemOf(req).toUpperCase() });
      }
      if (req.step.id === 'b') {
        const a = req.context.steps.a!.output as { upper: string };
        return ok({ item: itemOf(req), index: req.context.loop!.index, fromA: a.upper });
      }
      return ok({ done: true });
    });
    const { runId } = await startRun(deps(), { tenantId, workflowId, input: {} });
    expect(await finished(runId)).toMatchObject({ status: 'succeeded' });

    const expected = items.map((it, index) => ({ item: it, index, fromA: it.toUpperCase() }));
    const after = executor.calls.find((c) => c.step.id === 'after')!;
    expect(after.context.steps.loop!.output).toEqual(expected);
    // Within an item: the steps before the loop and the same item's earlier steps, never
    // another item's (b sees its own a; a sees no a).
    for (const s of seen.filter((x) => x.step === 'a')) expect(s.steps).toEqual(['list']);
    for (const s of seen.filter((x) => x.step === 'b')) expect(s.steps).toEqual(['a', 'list']);
    expect(
      seen
        .filter((x) => x.step === 'a')
        .map((x) => x.index)
        .sort(),
    ).toEqual([0, 1, 2, 3, 4, 5, 6]);

    const rows = await stepRowsOf(db.ownerPool, runId);
    const loopRow = rows.find((r) => r.step_id === 'loop')!;
    expect(loopRow).toMatchObject({ status: 'succeeded', item_index: null, output: expected });
    // Every item's StepRuns carry its index, once each.
    for (const id of ['a', 'b'])
      expect(
        rows
          .filter((r) => r.step_id === id)
          .map((r) => [r.item_index, r.status])
          .sort((x, y) => (x[0] as number) - (y[0] as number)),
      ).toEqual(items.map((_, i) => [i, 'succeeded']));
    expect(await jobCountOf(db.ownerPool, runId)).toBe(0);
  });

  it('keeps at most `concurrency` items in flight (observed by the executor)', async () => {
    const workflowId = await loopWorkflow({ concurrency: 4 });
    let inFlight = 0;
    let most = 0;
    startWorker(async (req) => {
      if (req.step.id === 'list')
        return ok({ items: Array.from({ length: 20 }, (_, i) => `i${i}`) });
      if (req.step.id !== 'a') return ok({});
      inFlight++;
      most = Math.max(most, inFlight);
      await sleep(30);
      inFlight--;
      return ok({});
    });
    const { runId } = await startRun(deps(), { tenantId, workflowId, input: {} });
    expect(await finished(runId)).toMatchObject({ status: 'succeeded' });
    expect(most).toBe(4);
  });

  it('onItemError "continue": a failed item’s entry is its error, the others go on', async () => {
    const workflowId = await loopWorkflow({ onItemError: 'continue' });
    startWorker((req) => {
      if (req.step.id === 'list') return ok({ items: ['x', 'bad', 'y'] });
      if (req.step.id === 'a' && itemOf(req) === 'bad')
        return {
          status: 'failed',
          error: { code: 'E_UPSTREAM_REJECTED', message: 'no bad items', retryable: false },
        };
      if (req.step.id === 'b') return ok({ item: itemOf(req) });
      return ok({});
    });
    const { runId } = await startRun(deps(), { tenantId, workflowId, input: {} });
    expect(await finished(runId)).toMatchObject({ status: 'succeeded' });
    const rows = await stepRowsOf(db.ownerPool, runId);
    expect(rows.find((r) => r.step_id === 'loop')!.output).toEqual([
      { item: 'x' },
      { error: { code: 'E_UPSTREAM_REJECTED', message: 'no bad items' } },
      { item: 'y' },
    ]);
    // The failed item's body stopped at its failed step.
    expect(
      rows
        .filter((r) => r.step_id === 'b')
        .map((r) => r.item_index)
        .sort(),
    ).toEqual([0, 2]);
  });

  it('onItemError "fail": the first failure fails the loop, no more items start, the loop’s onError applies', async () => {
    const workflowId = await loopWorkflow({ concurrency: 2 });
    const started: string[] = [];
    startWorker(async (req) => {
      if (req.step.id === 'list') return ok({ items: ['x', 'bad', 'slow', 'w', 'z'] });
      if (req.step.id === 'a') {
        started.push(itemOf(req));
        if (itemOf(req) === 'bad')
          return {
            status: 'failed',
            error: { code: 'E_UPSTREAM_REJECTED', message: 'no bad items', retryable: false },
          };
        if (itemOf(req) === 'x') await sleep(200);
      }
      return ok({});
    });
    const { runId } = await startRun(deps(), { tenantId, workflowId, input: {} });
    const run = await finished(runId);
    expect(run).toMatchObject({
      status: 'failed',
      error: { code: 'E_UPSTREAM_REJECTED', stepId: 'loop' },
    });
    await sleep(300);
    // 'x' was in flight (stopped), 'bad' failed; nothing after them started.
    expect(started.sort()).toEqual(['bad', 'x']);
    const rows = await stepRowsOf(db.ownerPool, runId);
    expect(rows.find((r) => r.step_id === 'loop')).toMatchObject({ status: 'failed' });
    expect(rows.some((r) => r.step_id === 'after')).toBe(false);
    expect(await jobCountOf(db.ownerPool, runId)).toBe(0);
  });

  it('a goto out of the body fails the item (its job never leaves the loop)', async () => {
    const workflowId = await publishV2(db.pool, tenantId, {
      steps: [
        { id: 'list', actionId: act },
        {
          id: 'loop',
          type: 'forEach',
          items: '{{ steps.list.output.items }}',
          onItemError: 'continue',
          steps: [{ id: 'a', actionId: act, onError: { goto: 'after' } }],
        },
        { id: 'after', actionId: act },
      ],
    });
    const executor = startWorker((req) => {
      if (req.step.id === 'list') return ok({ items: ['x', 'bad'] });
      if (req.step.id === 'a' && itemOf(req) === 'bad')
        return {
          status: 'failed',
          error: { code: 'E_UPSTREAM_REJECTED', message: 'no', retryable: false },
        };
      return ok({ item: req.context.loop?.item ?? null });
    });
    const { runId } = await startRun(deps(), { tenantId, workflowId, input: {} });
    expect(await finished(runId)).toMatchObject({ status: 'succeeded' });
    // 'after' ran once, on the main path.
    expect(executor.calls.filter((c) => c.step.id === 'after').length).toBe(1);
    const rows = await stepRowsOf(db.ownerPool, runId);
    expect(rows.find((r) => r.step_id === 'loop')!.output).toEqual([
      { item: 'x' },
      { error: { code: 'E_UPSTREAM_REJECTED', message: 'no' } },
    ]);
  });

  it('a worker stopping mid-loop leaves the next items to the queue; another one finishes the loop', async () => {
    const workflowId = await loopWorkflow({ concurrency: 3 });
    const items = Array.from({ length: 12 }, (_, i) => `i${i}`);
    const script = async (req: StepRequest) => {
      if (req.step.id === 'list') return ok({ items });
      if (req.step.id === 'a') await sleep(40);
      return ok({ item: itemOf(req) });
    };
    startWorker(script);
    const { runId } = await startRun(deps(), { tenantId, workflowId, input: {} });
    await waitFor(
      async () =>
        (await stepRowsOf(db.ownerPool, runId)).filter(
          (r) => r.step_id === 'b' && r.status === 'succeeded',
        ).length >= 3,
      { what: 'a few items done' },
    );
    await workers.splice(0)[0]!.stop();
    startWorker(script);
    expect(await finished(runId)).toMatchObject({ status: 'succeeded' });
    const rows = await stepRowsOf(db.ownerPool, runId);
    expect(rows.find((r) => r.step_id === 'loop')!.output).toEqual(items.map((item) => ({ item })));
    const done = rows.filter((r) => r.step_id === 'b' && r.status === 'succeeded');
    expect(done.map((r) => r.item_index).sort((x, y) => x! - y!)).toEqual(items.map((_, i) => i));
    expect(await jobCountOf(db.ownerPool, runId)).toBe(0);
  });

  it('an empty list: the loop succeeds with [] at once', async () => {
    const workflowId = await loopWorkflow();
    const executor = startWorker((req) => (req.step.id === 'list' ? ok({ items: [] }) : ok({})));
    const { runId } = await startRun(deps(), { tenantId, workflowId, input: {} });
    expect(await finished(runId)).toMatchObject({ status: 'succeeded' });
    expect(executor.calls.map((c) => c.step.id)).toEqual(['list', 'after']);
    expect(executor.calls[1]!.context.steps.loop!.output).toEqual([]);
  });

  it('cancel mid-loop stops its items: no item job is left and none starts after', async () => {
    const workflowId = await loopWorkflow({ concurrency: 2 });
    let starts = 0;
    startWorker(async (req, signal?: AbortSignal) => {
      if (req.step.id === 'list') return ok({ items: Array.from({ length: 10 }, (_, i) => i) });
      starts++;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2_000);
        signal?.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        });
      });
      return ok({});
    });
    const { runId } = await startRun(deps(), { tenantId, workflowId, input: {} });
    await waitFor(() => starts === 2, { what: 'two items in flight' });
    await cancelRun(deps(), { tenantId, runId, actor: { kind: 'system', id: 'test' } });
    expect(await finished(runId)).toMatchObject({ status: 'canceled' });
    expect(await jobCountOf(db.ownerPool, runId)).toBe(0);
    await sleep(300);
    expect(starts).toBe(2);
    const rows = await stepRowsOf(db.ownerPool, runId);
    expect(rows.filter((r) => r.item_index !== null).map((r) => r.status)).toEqual([
      'canceled',
      'canceled',
    ]);
  });
});
