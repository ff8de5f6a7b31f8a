/**
 * Waits and child runs against worker processes:
 * - a worker SIGKILLed while its run waits at a waitForEvent step holds nothing: the resume
 *   (no worker alive) is taken, and the next worker goes on from it, each step once;
 * - canceling a parent whose child is in the middle of a step cancels the child too: the
 *   worker holding the child's step is told to abort, nothing runs after, no job is left.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { cancelRun } from '../../src/engine/cancel.ts';
import { resumeWait } from '../../src/engine/resume.ts';
import { startRun } from '../../src/engine/start-run.ts';
import { withTenant } from '../../src/db/tenant.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { openSecretBox } from '../../src/security/open-secrets.ts';
import { createWaitTokens, type WaitTokens } from '../../src/security/wait-tokens.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, waitFor } from '../support/engine-factories.ts';
import {
  shortLeaseWorkerEnv,
  spawnEngineProcess,
  type EngineProcess,
} from '../support/engine-spawn.ts';
import { makeTenant } from '../support/factories.ts';
import { publishV2, runRow, stepRows } from '../support/waits.ts';

let db: TestDatabase;
let waitTokens: WaitTokens;
const procs: EngineProcess[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  const secretBox = await openSecretBox(
    loadConfig({ SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 5).toString('base64') }).security,
    { dataDir: '/nonexistent', embeddedDatabase: false, logger: testLogger, pool: db.pool },
  );
  waitTokens = createWaitTokens({ secretBox, publicUrl: 'http://127.0.0.1' });
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
});
afterAll(async () => {
  await db.drop();
});

const env = () => shortLeaseWorkerEnv(db.appUrl);

const statusOf = async (runId: string) => (await runRow(db, runId)).status;

it('a worker killed while its run waits for an event: the resume is kept and the next worker goes on', async () => {
  const tenantId: TenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId);
  const workflowId = await publishV2(db.pool, tenantId, {
    steps: [
      { id: 'before', actionId, input: { sleepMs: 0 } },
      { id: 'approve', type: 'waitForEvent', timeout: '1h' },
      { id: 'after', actionId, input: { sleepMs: 0 } },
    ],
  });
  const victim = spawnEngineProcess(env());
  procs.push(victim);
  await victim.ready;
  const { runId } = await startRun(engineDeps(db.pool), { tenantId, workflowId, input: {} });
  await waitFor(async () => (await statusOf(runId)) === 'waiting', { what: 'the run to wait' });
  await victim.kill('SIGKILL');
  const links = await withTenant(db.pool, tenantId, (c) =>
    waitTokens.linksFor(c, { tenantId, runId: runId }, ['approve']),
  );
  await resumeWait(
    { pool: db.pool, clock: { now: () => new Date() }, waitTokens, maxPayloadBytes: 10_000 },
    {
      tenantId,
      runId,
      token: links.approve!.token,
      payload: { yes: 1 },
      actor: { kind: 'system', id: 'test' },
    },
  );
  const rescuer = spawnEngineProcess(env());
  procs.push(rescuer);
  await waitFor(async () => (await statusOf(runId)) === 'succeeded', {
    timeoutMs: 20_000,
    what: 'the run to go on at the rescuer',
  });
  expect((await stepRows(db, runId)).map((s) => [s.step_id, s.status])).toEqual([
    ['before', 'succeeded'],
    ['approve', 'succeeded'],
    ['after', 'succeeded'],
  ]);
  expect((await stepRows(db, runId))[1]!.output).toEqual({ yes: 1 });
  // The victim ran `before` only; `after` ran once, at the rescuer.
  expect(victim.events.filter((e) => e.event === 'step-start').map((e) => e.stepId)).toEqual([
    'before',
  ]);
  expect(rescuer.events.filter((e) => e.event === 'step-start').map((e) => e.stepId)).toEqual([
    'after',
  ]);
}, 60_000);

it('canceling a parent cancels its child in the middle of a step, and the child’s worker aborts it', async () => {
  const tenantId: TenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId);
  const child = await publishV2(db.pool, tenantId, {
    steps: [
      { id: 'slow', actionId, input: { sleepMs: 20_000 } },
      { id: 'never', actionId, input: { sleepMs: 0 } },
    ],
  });
  const parent = await publishV2(db.pool, tenantId, {
    steps: [
      { id: 'call', type: 'callWorkflow', workflowId: child, input: {} },
      { id: 'after', actionId, input: { sleepMs: 0 } },
    ],
  });
  const worker = spawnEngineProcess(env());
  procs.push(worker);
  await worker.ready;
  const { runId } = await startRun(engineDeps(db.pool), {
    tenantId,
    workflowId: parent,
    input: {},
  });
  const started = await waitFor(
    () => worker.events.find((e) => e.event === 'step-start' && e.stepId === 'slow'),
    { timeoutMs: 20_000, what: "the child's slow step to start" },
  );
  const childRunId = started.runId as string;
  expect((await runRow(db, childRunId)).parent_run_id).toBe(runId);
  const t0 = Date.now();
  await cancelRun(engineDeps(db.pool), {
    tenantId,
    runId: runId,
    actor: { kind: 'system', id: 'test' },
  });
  expect(await statusOf(runId)).toBe('canceled');
  expect(await statusOf(childRunId)).toBe('canceled');
  // The child's step was aborted by the cancel notification, long before its 20 s.
  await waitFor(
    async () => {
      const s = await stepRows(db, childRunId);
      return s.length === 1 && s[0]!.status === 'canceled';
    },
    { what: "the child's step to be canceled" },
  );
  await new Promise((r) => setTimeout(r, 500));
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(worker.events.filter((e) => e.event === 'step-start').map((e) => e.stepId)).toEqual([
    'slow',
  ]);
  const jobs = await db.ownerPool.query('select 1 from jobs where run_id = any($1::uuid[])', [
    [runId, childRunId],
  ]);
  expect(jobs.rowCount).toBe(0);
}, 60_000);
