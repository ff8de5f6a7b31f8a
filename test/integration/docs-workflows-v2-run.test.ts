/**
 * The `??` example of docs/workflows.md ("Definition version 2", "Fallbacks") runs end to end
 * as written: saved and published through GraphQL, started by triggerWorkflow, run by a real
 * worker — one run takes the `bulk` branch, one the default, and each answer is what the page
 * says.

 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepExecutor, dbLogSink } from '../../src/cli/executor.ts';
import { withPinnedOutputs } from '../../src/cli/pinned-executor.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import { runnerMapping } from '../../src/runner/mapping-evaluator.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { codeConfig, gateConfig } from '../support/runner-harness.ts';

let db: TestDatabase;
let api: TestApi;
let worker: Worker;
let token: string;
let workflowId: string;

/** The example of the page whose steps include "answer", its placeholders filled in. */
function example(jsActionId: string): unknown {
  const doc = readFileSync(new URL('../../docs/workflows.md', import.meta.url), 'utf8');
  const part = doc.slice(doc.indexOf('## Definition version 2'));
  const text = [...part.matchAll(/```json\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((t) => t.includes('"id": "answer"'));
  expect(text).toBeDefined();
  return JSON.parse(text!.replaceAll('"<id of javascript.run>"', JSON.stringify(jsActionId)));
}

async function gqlOk<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const r = await api.gql<T>(query, variables, { token });
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data!;
}

type Run = {
  status: string;
  steps: Array<{ stepId: string; status: string; output: unknown }>;
};

async function finished(runId: string): Promise<Run> {
  let run: Run | undefined;
  await expect
    .poll(
      async () => {
        run = (
          await gqlOk<{ run: Run }>(
            `query($id: ID!) { run(id: $id) { status steps { stepId status output } } }`,
            { id: runId },
          )
        ).run;
        return run.status;
      },
      { timeout: 20_000 },
    )
    .toMatch(/succeeded|failed|dead/);
  return run!;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  token = (await makeTenant(db.pool, 'Docs v2')).apiToken;
  const apps = await gqlOk<{
    apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
  }>('{ apps(first: 100) { nodes { key actions { id } } } }');
  const jsActionId = apps.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!.id;
  workflowId = (
    await gqlOk<{ createWorkflow: { id: string } }>(
      `mutation { createWorkflow(name: "Quotes") { id } }`,
    )
  ).createWorkflow.id;
  await gqlOk(
    `mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }`,
    { w: workflowId, d: example(jsActionId) },
  );
  const executor = createStepExecutor({
    logger: testLogger,
    pool: db.pool,
    config: {
      gate: gateConfig([]),
      code: codeConfig({ timeoutMs: 5_000 }),
      breaker: { failureThreshold: 100, cooldownMs: 1_000 },
    },
  });
  worker = createWorker(engineDeps(db.pool), {
    executor: withPinnedOutputs(executor, dbLogSink(db.pool, { now: () => new Date() })),
    listenUrl: db.appUrl,
    mapping: runnerMapping,
  });
  worker.start();
});

afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await db?.drop();
});

async function runWith(body: unknown): Promise<Run> {
  const { triggerWorkflow } = await gqlOk<{ triggerWorkflow: { run: { id: string } } }>(
    `mutation($w: ID!, $i: JSON) { triggerWorkflow(workflowId: $w, input: $i) { run { id } } }`,
    { w: workflowId, i: { body } },
  );
  return finished(triggerWorkflow.run.id);
}

const statusOf = (run: Run, id: string) => run.steps.find((s) => s.stepId === id)?.status;
const outputOf = (run: Run, id: string) =>
  run.steps.find((s) => s.stepId === id && s.status === 'succeeded')?.output;

describe('docs/workflows.md, the ?? example', () => {
  it('is saved and published as written', async () => {
    const w = await gqlOk<{ workflow: { currentVersion: { definition: { version: number } } } }>(
      `query($id: ID!) { workflow(id: $id) { currentVersion { definition } } }`,
      { id: workflowId },
    );
    expect(w.workflow.currentVersion.definition.version).toBe(2);
  });

  it('takes the bulk branch and answers as the page says', async () => {
    const run = await runWith({ bulk: true, qty: 3, customer: { name: 'Ada' } });
    expect(run.status).toBe('succeeded');
    expect(outputOf(run, 'size')).toEqual({ branch: 'bulk' });
    expect(statusOf(run, 'list_quote')).toBe('skipped');
    expect(outputOf(run, 'answer')).toEqual({ customer: 'Ada', cents: 600, note: 'Quote for Ada' });
  });

  it('takes the default branch and answers as the page says', async () => {
    const run = await runWith({ email: 'a@b.test' });
    expect(run.status).toBe('succeeded');
    expect(outputOf(run, 'size')).toEqual({ branch: 'default' });
    expect(statusOf(run, 'bulk_quote')).toBe('skipped');
    expect(outputOf(run, 'answer')).toEqual({
      customer: 'a@b.test',
      cents: 250,
      note: 'Quote for you',
    });
  });
});
