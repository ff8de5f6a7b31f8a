/**
 * The path a version-2 run took, through GraphQL: run status `waiting`, a StepRun's item
 * index, chosen branch, deadline and child run, a child's parent, the parent's child runs
 * (paged, tenant-scoped) and a loop's items (paged). The rows are written as the engine
 * records them (test/support/run-path.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { insertPathRun, insertPathSteps } from '../support/run-path.ts';

let db: TestDatabase;
let api: TestApi;
let token: string;
let otherToken: string;
let parentId: string;
const childIds: string[] = [];
const deadline = new Date('2031-02-03T04:05:06.000Z');

async function gql<T>(query: string, variables: Record<string, unknown> = {}, t = token) {
  const r = await api.gql<T>(query, variables, { token: t });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  const tenant = await makeTenant(db.pool, 'Paths');
  token = tenant.apiToken;
  const other = await makeTenant(db.pool, 'Other paths');
  otherToken = other.apiToken;
  const tenantId = tenant.tenantId;
  const actionId = await makeAction(db.pool, tenantId);
  const { workflowId, versionId } = await makeWorkflow(db.pool, tenantId, [{ id: 'a', actionId }]);
  const t0 = Date.now() - 60_000;
  parentId = await insertPathRun(db.ownerPool, {
    tenantId,
    workflowId,
    versionId,
    status: 'waiting',
    createdAt: new Date(t0),
  });
  for (let i = 0; i < 3; i++)
    childIds.push(
      await insertPathRun(db.ownerPool, {
        tenantId,
        workflowId,
        versionId,
        status: i === 0 ? 'succeeded' : 'running',
        parentRunId: parentId,
        parentStepIndex: 7,
        createdAt: new Date(t0 + 1000 * (i + 1)),
      }),
    );
  await insertPathSteps(db.ownerPool, tenantId, parentId, [
    {
      stepId: 'route',
      stepIndex: 0,
      status: 'succeeded',
      branch: 'big',
      output: { branch: 'big' },
    },
    { stepId: 'big_step', stepIndex: 1, status: 'succeeded' },
    { stepId: 'small_step', stepIndex: 2, status: 'skipped' },
    { stepId: 'each', stepIndex: 3, status: 'succeeded' },
    ...Array.from({ length: 25 }, (_, i) => ({
      stepId: 'item_step',
      stepIndex: 4,
      status: i === 7 ? ('failed' as const) : ('succeeded' as const),
      itemIndex: i,
      errorCode: i === 7 ? 'E_STEP_FAILED' : null,
    })),
    { stepId: 'approve', stepIndex: 5, status: 'waiting', waitUntil: deadline },
    { stepId: 'call', stepIndex: 7, status: 'succeeded', childRunId: childIds[0]! },
  ]);
  // Another tenant's run: never among this tenant's runs.
  const otherAction = await makeAction(db.pool, other.tenantId);
  const otherWf = await makeWorkflow(db.pool, other.tenantId, [{ id: 'a', actionId: otherAction }]);
  await insertPathRun(db.ownerPool, {
    tenantId: other.tenantId,
    workflowId: otherWf.workflowId,
    versionId: otherWf.versionId,
    status: 'running',
  });
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

type Step = {
  stepId: string;
  status: string;
  itemIndex: number | null;
  branch: string | null;
  waitUntil: string | null;
  childRunId: string | null;
};

describe('the path of a run', () => {
  it('shows the chosen branch, the items, the wait and its deadline, and the child run', async () => {
    const { run } = await gql<{ run: { status: string; steps: Step[] } }>(
      `query($id: ID!) { run(id: $id) {
        status steps { stepId status itemIndex branch waitUntil childRunId }
      } }`,
      { id: parentId },
    );
    expect(run.status).toBe('waiting');
    const byId = (id: string) => run.steps.filter((s) => s.stepId === id);
    expect(byId('route')[0]).toMatchObject({ branch: 'big', status: 'succeeded' });
    expect(byId('small_step')[0]!.status).toBe('skipped');
    expect(byId('item_step').map((s) => s.itemIndex)).toEqual([...Array(25).keys()]);
    expect(byId('approve')[0]).toMatchObject({
      status: 'waiting',
      waitUntil: deadline.toISOString(),
    });
    expect(byId('call')[0]!.childRunId).toBe(childIds[0]);
  });

  it('leaves the loop items out on demand and pages them in item order', async () => {
    const { run } = await gql<{ run: { steps: Step[] } }>(
      `query($id: ID!) { run(id: $id) { steps(withItems: false) { stepId itemIndex } } }`,
      { id: parentId },
    );
    expect(run.steps.map((s) => s.stepId)).toEqual([
      'route',
      'big_step',
      'small_step',
      'each',
      'approve',
      'call',
    ]);
    const seen: { itemIndex: number; status: string; errorCode: string | null }[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      type ItemsPage = {
        run: {
          loopItems: {
            nodes: { itemIndex: number; status: string; errorCode: string | null }[];
            endCursor: string | null;
            hasNextPage: boolean;
          };
        };
      };
      const res: ItemsPage = await gql(
        `query($id: ID!, $after: String) { run(id: $id) {
          loopItems(stepIds: ["item_step"], first: 10, after: $after) {
            nodes { itemIndex status errorCode } endCursor hasNextPage
          } } }`,
        { id: parentId, after },
      );
      seen.push(...res.run.loopItems.nodes);
      if (!res.run.loopItems.hasNextPage) break;
      after = res.run.loopItems.endCursor;
    }
    expect(seen.map((s) => s.itemIndex)).toEqual([...Array(25).keys()]);
    expect(seen[7]).toMatchObject({ status: 'failed', errorCode: 'E_STEP_FAILED' });
  });

  it('names a child run’s parent and pages a parent’s children, oldest first', async () => {
    const { run } = await gql<{ run: { parentRunId: string; parentStepIndex: number } }>(
      `query($id: ID!) { run(id: $id) { parentRunId parentStepIndex } }`,
      { id: childIds[1] },
    );
    expect(run).toEqual({ parentRunId: parentId, parentStepIndex: 7 });
    const first = await gql<{
      run: { childRuns: { nodes: { id: string }[]; endCursor: string; hasNextPage: boolean } };
    }>(
      `query($id: ID!) { run(id: $id) { childRuns(first: 2) { nodes { id } endCursor hasNextPage } } }`,
      { id: parentId },
    );
    expect(first.run.childRuns.nodes.map((n) => n.id)).toEqual(childIds.slice(0, 2));
    expect(first.run.childRuns.hasNextPage).toBe(true);
    const second = await gql<{
      run: { childRuns: { nodes: { id: string }[]; hasNextPage: boolean } };
    }>(
      `query($id: ID!, $after: String) { run(id: $id) { childRuns(first: 2, after: $after) { nodes { id } hasNextPage } } }`,
      { id: parentId, after: first.run.childRuns.endCursor },
    );
    expect(second.run.childRuns).toEqual({ nodes: [{ id: childIds[2] }], hasNextPage: false });
  });

  it('lists waiting runs by status, and another tenant sees none of them', async () => {
    const mine = await gql<{ runs: { nodes: { id: string }[] } }>(
      `{ runs(filter: { statuses: [waiting] }) { nodes { id } } }`,
    );
    expect(mine.runs.nodes.map((n) => n.id)).toEqual([parentId]);
    const theirs = await gql<{ run: null | { id: string } }>(
      `query($id: ID!) { run(id: $id) { id } }`,
      { id: parentId },
      otherToken,
    );
    expect(theirs.run).toBeNull();
  });
});
