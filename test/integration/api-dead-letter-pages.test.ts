/**
 * Dead letters over the API beyond one page: listed with the cursor connection and filtered by
 * workflow, failed step, error code and time; a replay preview of a whole filter (how many,
 * which versions); and a bulk replay of the filter across pages (replayRuns over the not yet
 * replayed, bounded by the preview's time) that replays each once and links each to its run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenantId } from '../../src/model/ids.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let tenantId: TenantId;
let token: string;
let workflowId: string;
let v1: string;
let v2: string;

type DL = { id: string; runId: string; failedStepId: string; replayRunId: string | null };
type Page = { nodes: DL[]; endCursor: string | null; hasNextPage: boolean };

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await api.gql<T>(query, variables, { token });
  expect(res.errors, query).toBeUndefined();
  return res.data!;
}

/** `n` dead runs of a version, failed at `step` with `code`, all at the same instant. */
async function deadRuns(n: number, versionId: string, step: string, code: string, at: string) {
  await db.ownerPool.query(
    `with runs as (
       insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, input, status, created_at, finished_at)
       select $1, $2, $3, jsonb_build_object('i', i), 'dead', $6, $6 from generate_series(1, $4) i
       returning tenant_id, id, workflow_id)
     insert into dead_letters (tenant_id, run_id, workflow_id, failed_step_id, error, context, retry_count, created_at)
     select tenant_id, id, workflow_id, $5, jsonb_build_object('code', $7::text, 'message', 'no', 'retryable', true),
            '{"input": {}, "steps": {}, "failedStepIndex": 0}', 3, $6
       from runs`,
    [tenantId, workflowId, versionId, n, step, at, code],
  );
}

async function allPages(filter: Record<string, unknown>, first: number): Promise<DL[]> {
  const out: DL[] = [];
  let after: string | null = null;
  for (let i = 0; i < 20; i++) {
    const { deadLetters }: { deadLetters: Page } = await gql<{ deadLetters: Page }>(
      `query($f: DeadLetterFilter, $n: Int, $a: String) {
        deadLetters(filter: $f, first: $n, after: $a) {
          nodes { id runId failedStepId replayRunId } endCursor hasNextPage } }`,
      { f: filter, n: first, a: after },
    );
    out.push(...deadLetters.nodes);
    if (!deadLetters.hasNextPage) return out;
    after = deadLetters.endCursor;
  }
  throw new Error('too many pages');
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  const t = await makeTenant(db.pool);
  tenantId = t.tenantId;
  token = t.apiToken;
  const actionId = await makeAction(db.pool, tenantId);
  const wf = await makeWorkflow(db.pool, tenantId, [
    { id: 'charge', actionId },
    { id: 'notify', actionId },
  ]);
  workflowId = wf.workflowId;
  v1 = wf.versionId;
  const v = await db.ownerPool.query<{ id: string }>(
    `insert into workflow_versions (tenant_id, workflow_id, version, definition)
     select tenant_id, workflow_id, 2, definition from workflow_versions where id = $1 returning id`,
    [v1],
  );
  v2 = v.rows[0]!.id;
  // 90 + 40 failed at "charge" (two versions, many sharing one instant), 15 at "notify".
  await deadRuns(90, v1, 'charge', 'E_UPSTREAM_UNAVAILABLE', '2026-06-01T10:00:00.123456Z');
  await deadRuns(40, v2, 'charge', 'E_UPSTREAM_UNAVAILABLE', '2026-06-01T11:00:00Z');
  await deadRuns(15, v2, 'notify', 'E_STEP_TIMEOUT', '2026-06-01T12:00:00Z');
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('dead letters across pages', () => {
  it('pages the list by cursor, rows sharing a microsecond included, and filters it', async () => {
    const all = await allPages({}, 40);
    expect(all).toHaveLength(145);
    expect(new Set(all.map((d) => d.id)).size).toBe(145);
    expect(await allPages({ stepId: 'notify' }, 100)).toHaveLength(15);
    expect(await allPages({ stepId: 'charge', workflowId }, 100)).toHaveLength(130);
    expect(await allPages({ errorCode: 'E_STEP_TIMEOUT' }, 100)).toHaveLength(15);
    expect(
      await allPages({ since: '2026-06-01T10:30:00Z', until: '2026-06-01T11:30:00Z' }, 100),
    ).toHaveLength(40);
  });

  it('previews a whole filter by version, then replays it across pages once each', async () => {
    type Preview = {
      asOf: string;
      total: number;
      pending: number;
      versions: { workflowVersionId: string; version: number; total: number; pending: number }[];
    };
    const filter = { stepId: 'charge' };
    const { replayPreview } = await gql<{ replayPreview: Preview }>(
      `query($f: DeadLetterFilter!) { replayPreview(filter: $f) {
        asOf total pending versions { workflowVersionId version total pending } } }`,
      { f: filter },
    );
    expect(replayPreview).toMatchObject({ total: 130, pending: 130 });
    expect(replayPreview.versions).toEqual([
      { workflowVersionId: v1, version: 1, total: 90, pending: 90 },
      { workflowVersionId: v2, version: 2, total: 40, pending: 40 },
    ]);

    // What the web app does: batches of the not-yet-replayed, up to the preview's time.
    const replayed: { deadLetterId: string; newRunId: string; alreadyReplayed: boolean }[] = [];
    for (let i = 0; i < 5; i++) {
      const { replayRuns } = await gql<{ replayRuns: typeof replayed }>(
        `mutation($f: DeadLetterFilter!) { replayRuns(filter: $f, from: START) {
          deadLetterId newRunId alreadyReplayed } }`,
        { f: { ...filter, pending: true, until: replayPreview.asOf } },
      );
      replayed.push(...replayRuns);
      if (replayRuns.length < 100) break;
    }
    expect(replayed).toHaveLength(130);
    expect(replayed.every((r) => !r.alreadyReplayed)).toBe(true);
    expect(new Set(replayed.map((r) => r.deadLetterId)).size).toBe(130);

    const after = await allPages(filter, 100);
    expect(after.every((d) => d.replayRunId)).toBe(true);
    const runs = await db.ownerPool.query<{ n: number; v1: number }>(
      `select count(*)::int as n, count(*) filter (where workflow_version_id = $2)::int as v1
         from workflow_runs where tenant_id = $1 and replay_of_run_id is not null`,
      [tenantId, v1],
    );
    expect(runs.rows[0]).toEqual({ n: 130, v1: 90 });
    // Nothing left to replay; the other step's failures were not touched.
    const again = await gql<{ replayPreview: Preview }>(
      `query($f: DeadLetterFilter!) { replayPreview(filter: $f) { total pending } }`,
      { f: filter },
    );
    expect(again.replayPreview).toMatchObject({ total: 130, pending: 0 });
    expect((await allPages({ stepId: 'notify', pending: true }, 100)).length).toBe(15);
  });
});
