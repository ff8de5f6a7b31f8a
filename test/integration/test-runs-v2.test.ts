/**
 * Testing a version-2 draft through the real queue and worker: a pin inside a branch is used
 * instead of calling the action and the later steps read it; testStep runs one nested action
 * step for real after the earlier steps, pinned whatever their kind (a switch's
 * `{"branch": …}` included).
 */
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
let js: string;

type Run = {
  status: string;
  isTest: boolean;
  pinnedStepIds: string[];
  steps: Array<{ stepId: string; status: string; input: unknown; output: unknown }>;
};

async function gqlOk<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const r = await api.gql<T>(query, variables, { token });
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data!;
}

async function finished(runId: string): Promise<Run> {
  let run: Run | undefined;
  await expect
    .poll(
      async () => {
        run = (
          await gqlOk<{ run: Run }>(
            `query($id: ID!) { run(id: $id) { status isTest pinnedStepIds steps { stepId status input output } } }`,
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
  token = (await makeTenant(db.pool, 'Tester v2')).apiToken;
  const apps = await gqlOk<{
    apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
  }>('{ apps(first: 100) { nodes { key actions { id } } } }');
  js = apps.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!.id;
  workflowId = (
    await gqlOk<{ createWorkflow: { id: string } }>(`mutation { createWorkflow(name: "T") { id } }`)
  ).createWorkflow.id;
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

const draft = () => ({
  version: 2,
  steps: [
    {
      id: 'kind',
      actionId: js,
      input: { code: 'return { vip: input.vip };', vip: '{{ trigger.vip }}' },
    },
    {
      id: 'route',
      type: 'switch',
      branches: [
        {
          name: 'vip',
          when: '{{ steps.kind.output.vip }}',
          steps: [
            { id: 'crm', actionId: js, input: { code: 'throw new Error("the CRM was called");' } },
            {
              id: 'greet',
              actionId: js,
              input: {
                code: 'return { text: `Hello ${input.name}, ${input.branch}` };',
                name: '{{ steps.crm.output.name }}',
                branch: '{{ steps.route.output.branch }}',
              },
            },
          ],
        },
      ],
    },
  ],
});

describe('test runs of a version-2 draft', () => {
  it('testWorkflow uses a pin inside a branch', async () => {
    const { testWorkflow } = await gqlOk<{ testWorkflow: { id: string } }>(
      `mutation($w: ID!, $d: JSON!, $i: JSON, $p: JSON) {
        testWorkflow(workflowId: $w, definition: $d, input: $i, pinnedOutputs: $p) { id } }`,
      { w: workflowId, d: draft(), i: { vip: true }, p: { crm: { name: 'Ada' } } },
    );
    const run = await finished(testWorkflow.id);
    expect(run.status).toBe('succeeded');
    expect(run.isTest).toBe(true);
    expect(run.pinnedStepIds).toEqual(['crm']);
    const greet = run.steps.find((s) => s.stepId === 'greet');
    expect(greet?.output).toEqual({ text: 'Hello Ada, vip' });
  });

  it('testStep runs a nested step with the earlier ones pinned, a switch included', async () => {
    const { testStep } = await gqlOk<{ testStep: { id: string } }>(
      `mutation($w: ID!, $d: JSON!, $o: JSON) {
        testStep(workflowId: $w, definition: $d, stepId: "greet", stepOutputs: $o) { id } }`,
      {
        w: workflowId,
        d: draft(),
        o: { route: { branch: 'vip' }, crm: { name: 'Grace' } },
      },
    );
    const run = await finished(testStep.id);
    expect(run.status).toBe('succeeded');
    expect([...run.pinnedStepIds].sort()).toEqual(['crm', 'kind', 'route']);
    expect(run.steps.map((s) => s.stepId)).toEqual(['kind', 'route', 'crm', 'greet']);
    expect(run.steps.at(-1)?.output).toEqual({ text: 'Hello Grace, vip' });
  });
});
