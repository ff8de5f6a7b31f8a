/**
 * A parent waiting for a child that does not end, on a fake clock: its first look (after
 * FIRST_CHECK_MS) finds the child running and waits again (at most RECHECK_MS), still
 * `waiting`; past the 30-day deadline the step fails with E_WAIT_TIMEOUT and the run with it,
 * while the child goes on waiting.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import {
  CHILD_WAIT_MS,
  FIRST_CHECK_MS,
  RECHECK_MS,
} from '../../src/engine/control/call-workflow.ts';
import { startRun } from '../../src/engine/start-run.ts';
import type { Worker } from '../../src/engine/worker.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { openSecretBox } from '../../src/security/open-secrets.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps, fakeClock, waitFor } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { publishV2, runRow, startEchoWorker, stepRows } from '../support/waits.ts';

let db: TestDatabase;
let worker: Worker;
let tenantId: TenantId;
const clock = fakeClock(new Date());

beforeAll(async () => {
  db = await createTestDatabase();
  const secrets = await openSecretBox(
    loadConfig({ SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 4).toString('base64') }).security,
    { dataDir: '/nonexistent', embeddedDatabase: false, logger: testLogger, pool: db.pool },
  );
  worker = startEchoWorker(db, secrets, { clock });
  tenantId = (await makeTenant(db.pool)).tenantId;
});
afterAll(async () => {
  await worker.stop();
  await db.drop();
});

async function jobOf(runId: string) {
  const r = await db.ownerPool.query<{ status: string; run_at: Date }>(
    'select status, run_at from jobs where run_id = $1',
    [runId],
  );
  return r.rows[0];
}

it('looks at a running child, waits again, and fails E_WAIT_TIMEOUT past 30 days', async () => {
  const child = await publishV2(db.pool, tenantId, {
    steps: [{ id: 'forever', type: 'waitForEvent', timeout: '60d' }],
  });
  const parent = await publishV2(db.pool, tenantId, {
    steps: [{ id: 'call', type: 'callWorkflow', workflowId: child, input: {} }],
  });
  const { runId } = await startRun(engineDeps(db.pool, { clock }), {
    tenantId,
    workflowId: parent,
    input: {},
  });
  await waitFor(async () => (await runRow(db, runId)).status === 'waiting', {
    what: 'the parent to wait',
  });
  const childRunId = (await stepRows(db, runId))[0]!.child_run_id!;
  await waitFor(async () => (await runRow(db, childRunId)).status === 'waiting', {
    what: 'the child to wait',
  });
  const first = (await jobOf(runId))!;
  expect(first.status).toBe('waiting');
  expect(first.run_at.getTime() - clock.now().getTime()).toBeLessThanOrEqual(FIRST_CHECK_MS);

  clock.advance(FIRST_CHECK_MS + 10);
  worker.poke();
  const lookedAt = clock.now().getTime();
  await waitFor(
    async () => {
      const j = await jobOf(runId);
      return j?.status === 'waiting' && j.run_at.getTime() > lookedAt;
    },
    { what: 'the parent to wait again after its first look' },
  );
  expect((await jobOf(runId))!.run_at.getTime() - lookedAt).toBeLessThanOrEqual(RECHECK_MS);
  expect((await stepRows(db, runId))[0]!.status).toBe('waiting');

  clock.advance(CHILD_WAIT_MS);
  worker.poke();
  await waitFor(async () => (await runRow(db, runId)).status === 'failed', {
    what: 'the parent to fail at the deadline',
  });
  expect((await runRow(db, runId)).error).toMatchObject({ code: 'E_WAIT_TIMEOUT', stepId: 'call' });
  expect((await runRow(db, childRunId)).status).toBe('waiting');
});
