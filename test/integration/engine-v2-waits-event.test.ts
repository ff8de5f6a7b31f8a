/**
 * waitForEvent through the real engine and API: a step before the wait maps its links
 * (`run.waits.approve.url|token`), the run waits holding no job claim, the resume webhook at
 * that url resumes it and the next step sees the payload; a wait not resumed times out —
 * `onTimeout: continue` goes on, the default fails the run with E_WAIT_TIMEOUT.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import type { Worker } from '../../src/engine/worker.ts';
import type { ActionId, TenantId } from '../../src/model/ids.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, waitFor } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { publishV2, runRow, startEchoWorker, stepRows } from '../support/waits.ts';

let db: TestDatabase;
let api: TestApi;
let worker: Worker;
let tenantId: TenantId;
let actionId: ActionId;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  worker = startEchoWorker(db, api.secrets, { publicUrl: api.url });
  tenantId = (await makeTenant(db.pool)).tenantId;
  actionId = await makeAction(db.pool, tenantId);
});
afterAll(async () => {
  await worker.stop();
  await api.close();
  await db.drop();
});

const status = async (runId: string) => (await runRow(db, runId)).status;

describe('waitForEvent', () => {
  it('waits until the resume webhook at run.waits.<id>.url is called, then goes on with its payload', async () => {
    const workflowId = await publishV2(db.pool, tenantId, {
      steps: [
        {
          id: 'mail',
          actionId,
          input: { url: '{{ run.waits.approve.url }}', token: '{{ run.waits.approve.token }}' },
        },
        { id: 'approve', type: 'waitForEvent', timeout: '1h' },
        { id: 'after', actionId, input: { decision: '{{ steps.approve.output.decision }}' } },
      ],
    });
    const { runId } = await startRun(engineDeps(db.pool), { tenantId, workflowId, input: {} });
    await waitFor(async () => (await status(runId)) === 'waiting', { what: 'the run to wait' });
    const job = await db.ownerPool.query<{
      status: string;
      locked_by: string | null;
      due_in_s: number;
    }>(
      `select status, locked_by, extract(epoch from run_at - now())::float8 as due_in_s from jobs where run_id = $1`,
      [runId],
    );
    expect(job.rows[0]).toMatchObject({ status: 'waiting', locked_by: null });
    expect(job.rows[0]!.due_in_s).toBeGreaterThan(3_500);
    const mail = (await stepRows(db, runId)).find((s) => s.step_id === 'mail')!;
    const { url, token } = mail.output as { url: string; token: string };
    expect(url).toBe(`${api.url}/v1/runs/${runId}/waits/approve/resume`);
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'approved' }),
    });
    expect(res.status).toBe(200);
    await waitFor(async () => (await status(runId)) === 'succeeded', { what: 'the run to end' });
    expect((await stepRows(db, runId)).map((s) => [s.step_id, s.status, s.output])).toEqual([
      ['mail', 'succeeded', { url, token }],
      ['approve', 'succeeded', { decision: 'approved' }],
      ['after', 'succeeded', { decision: 'approved' }],
    ]);
    const again = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(again.status).toBe(409);
  });

  it('times out: onTimeout continue goes on, the default fails the run with E_WAIT_TIMEOUT', async () => {
    const continuing = await publishV2(db.pool, tenantId, {
      steps: [
        { id: 'approve', type: 'waitForEvent', timeout: '300ms', onTimeout: 'continue' },
        { id: 'after', actionId, input: { went: 'on' } },
      ],
    });
    const failing = await publishV2(db.pool, tenantId, {
      steps: [
        { id: 'approve', type: 'waitForEvent', timeout: '300ms' },
        { id: 'after', actionId, input: {} },
      ],
    });
    const deps = engineDeps(db.pool);
    const a = await startRun(deps, { tenantId, workflowId: continuing, input: {} });
    const b = await startRun(deps, { tenantId, workflowId: failing, input: {} });
    await waitFor(async () => (await status(a.runId)) === 'succeeded', { what: 'a to go on' });
    expect((await stepRows(db, a.runId)).map((s) => [s.step_id, s.status, s.error_code])).toEqual([
      ['approve', 'failed', 'E_WAIT_TIMEOUT'],
      ['after', 'succeeded', null],
    ]);
    await waitFor(async () => (await status(b.runId)) === 'failed', { what: 'b to fail' });
    expect((await runRow(db, b.runId)).error).toMatchObject({
      code: 'E_WAIT_TIMEOUT',
      stepId: 'approve',
    });
    expect((await stepRows(db, b.runId)).map((s) => s.step_id)).toEqual(['approve']);
  });
});
