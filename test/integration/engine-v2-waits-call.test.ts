/**
 * callWorkflow through the real engine: the child runs with the mapped input, under the
 * parent's trace, and its output becomes the calling step's; a failed child fails the step
 * (E_CHILD_RUN_FAILED, the child's code in the message) and `onError: continue` goes on;
 * `wait: false` answers `{ runId }` at once; a workflow of another tenant is not found.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelRun } from '../../src/engine/cancel.ts';
import { startRun } from '../../src/engine/start-run.ts';
import type { Worker } from '../../src/engine/worker.ts';
import type { ActionId, RunId, TenantId, WorkflowId } from '../../src/model/ids.ts';
import { openSecretBox } from '../../src/security/open-secrets.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, waitFor } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { publishV2, runRow, startEchoWorker, stepRows } from '../support/waits.ts';

let db: TestDatabase;
let worker: Worker;
let tenantId: TenantId;
let actionId: ActionId;
let child: WorkflowId;

const TRACE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

beforeAll(async () => {
  db = await createTestDatabase();
  const secrets = await openSecretBox(
    loadConfig({ SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 3).toString('base64') }).security,
    { dataDir: '/nonexistent', embeddedDatabase: false, logger: testLogger, pool: db.pool },
  );
  worker = startEchoWorker(db, secrets);
  tenantId = (await makeTenant(db.pool)).tenantId;
  actionId = await makeAction(db.pool, tenantId);
  child = await publishV2(db.pool, tenantId, {
    steps: [
      { id: 'work', actionId, input: { doubled: '{{ trigger.n }}', fail: '{{ trigger.fail }}' } },
    ],
  });
});
afterAll(async () => {
  await worker.stop();
  await db.drop();
});

const ended = (runId: string) =>
  waitFor(
    async () => {
      const r = await runRow(db, runId);
      return ['succeeded', 'failed', 'dead', 'canceled'].includes(r.status) && r;
    },
    { what: `run ${runId} to end` },
  );

const childOf = async (runId: string) =>
  (await stepRows(db, runId)).find((s) => s.step_id === 'call')!;

describe('callWorkflow', () => {
  it('waits for the child and takes its output; the child continues the parent’s trace', async () => {
    const parent = await publishV2(db.pool, tenantId, {
      steps: [
        {
          id: 'call',
          type: 'callWorkflow',
          workflowId: child,
          input: { n: '{{ trigger.n }}', fail: false },
        },
        { id: 'after', actionId, input: { got: '{{ steps.call.output.work.doubled }}' } },
      ],
    });
    const { runId } = await startRun(engineDeps(db.pool), {
      tenantId,
      workflowId: parent,
      input: { n: 21 },
      traceparent: TRACE,
    });
    expect((await ended(runId)).status).toBe('succeeded');
    const call = await childOf(runId);
    expect(call).toMatchObject({
      status: 'succeeded',
      output: { work: { doubled: 21, fail: false } },
    });
    expect((await stepRows(db, runId)).find((s) => s.step_id === 'after')?.output).toEqual({
      got: 21,
    });
    const c = await runRow(db, call.child_run_id!);
    expect(c).toMatchObject({ status: 'succeeded', parent_run_id: runId });
    expect(c.trace_context?.split('-')[1]).toBe(TRACE.split('-')[1]);
  });

  it('a failed child fails the step with E_CHILD_RUN_FAILED; onError continue goes on', async () => {
    const failing = await publishV2(db.pool, tenantId, {
      steps: [{ id: 'call', type: 'callWorkflow', workflowId: child, input: { n: 1, fail: true } }],
    });
    const continuing = await publishV2(db.pool, tenantId, {
      steps: [
        {
          id: 'call',
          type: 'callWorkflow',
          workflowId: child,
          input: { n: 1, fail: true },
          onError: 'continue',
        },
        { id: 'after', actionId, input: { ok: true } },
      ],
    });
    const deps = engineDeps(db.pool);
    const a = await startRun(deps, { tenantId, workflowId: failing, input: {} });
    const b = await startRun(deps, { tenantId, workflowId: continuing, input: {} });
    const ra = await ended(a.runId);
    expect(ra.status).toBe('failed');
    expect(ra.error).toMatchObject({ code: 'E_CHILD_RUN_FAILED', stepId: 'call' });
    expect(ra.error?.message).toContain('E_HTTP_STATUS');
    expect((await ended(b.runId)).status).toBe('succeeded');
    expect((await stepRows(db, b.runId)).map((s) => [s.step_id, s.status, s.error_code])).toEqual([
      ['call', 'failed', 'E_CHILD_RUN_FAILED'],
      ['after', 'succeeded', null],
    ]);
  });

  it('a child that ends before the parent’s wait is recorded: the parent takes its outcome once', async () => {
    // The child waits an hour; the test cancels it while the parent's worker is about to
    // record its wait: that commit is held (a test trigger on the parent's job) until the
    // child's end, which resolves the parent's StepRun while it is still `running`.
    const sleeper = await publishV2(db.pool, tenantId, {
      steps: [{ id: 'nap', type: 'delay', duration: '1h' }],
    });
    const parent = await publishV2(db.pool, tenantId, {
      steps: [
        { id: 'call', type: 'callWorkflow', workflowId: sleeper, input: {}, onError: 'continue' },
        { id: 'after', actionId, input: { ok: true } },
      ],
    });
    await db.ownerPool.query(`
      create function test_hold_parent_wait() returns trigger language plpgsql
        security definer as $$
      declare
        v_until timestamptz := clock_timestamp() + interval '10 seconds';
      begin
        if exists (select 1 from workflow_runs where id = new.run_id
                    and workflow_id = '${parent}') then
          while clock_timestamp() < v_until and not exists (
            select 1 from workflow_runs where parent_run_id = new.run_id and status = 'canceled')
          loop
            perform pg_sleep(0.02);
          end loop;
        end if;
        return new;
      end $$;
      create trigger test_hold_parent_wait before update on jobs for each row
        when (old.status = 'running' and new.status = 'waiting')
        execute function test_hold_parent_wait();`);
    try {
      const { runId } = await startRun(engineDeps(db.pool), {
        tenantId,
        workflowId: parent,
        input: {},
      });
      const childRunId = await waitFor(
        async () =>
          (
            await db.ownerPool.query<{ id: RunId }>(
              'select id from workflow_runs where parent_run_id = $1',
              [runId],
            )
          ).rows[0]?.id,
        { what: 'the child run to start' },
      );
      await cancelRun(engineDeps(db.pool), {
        tenantId,
        runId: childRunId,
        actor: { kind: 'system', id: null },
      });
      const started = Date.now();
      const r = await ended(runId);
      expect(r.status).toBe('succeeded');
      // Taken at the wait's first look (FIRST_CHECK_MS), not after a lease ran out.
      expect(Date.now() - started).toBeLessThan(8_000);
      const attempts = await db.ownerPool.query(
        `select step_id, attempt, status, error_code, child_run_id, wait_until is not null as waited
           from step_runs where run_id = $1 order by step_index, attempt`,
        [runId],
      );
      expect(attempts.rows).toEqual([
        {
          step_id: 'call',
          attempt: 1,
          status: 'failed',
          error_code: 'E_CHILD_RUN_FAILED',
          child_run_id: childRunId,
          waited: true,
        },
        {
          step_id: 'after',
          attempt: 1,
          status: 'succeeded',
          error_code: null,
          child_run_id: null,
          waited: false,
        },
      ]);
      const children = await db.ownerPool.query(
        'select 1 from workflow_runs where parent_run_id = $1',
        [runId],
      );
      expect(children.rowCount).toBe(1);
    } finally {
      await db.ownerPool.query(`drop trigger test_hold_parent_wait on jobs;
        drop function test_hold_parent_wait()`);
    }
  });

  it('wait: false answers { runId } at once; another tenant’s workflow is not found', async () => {
    const fireAndForget = await publishV2(db.pool, tenantId, {
      steps: [
        {
          id: 'call',
          type: 'callWorkflow',
          workflowId: child,
          input: { n: 2, fail: false },
          wait: false,
        },
      ],
    });
    const { runId } = await startRun(engineDeps(db.pool), {
      tenantId,
      workflowId: fireAndForget,
      input: {},
    });
    const r = await ended(runId);
    expect(r.status).toBe('succeeded');
    const out = (await childOf(runId)).output as { runId: string };
    expect((await ended(out.runId)).parent_run_id).toBe(runId);

    const other = (await makeTenant(db.pool)).tenantId;
    const stranger = await publishV2(db.pool, other, {
      steps: [{ id: 'x', actionId, input: {} }],
    });
    const crossing = await publishV2(db.pool, tenantId, {
      steps: [{ id: 'call', type: 'callWorkflow', workflowId: stranger, input: {} }],
    });
    const c = await startRun(engineDeps(db.pool), { tenantId, workflowId: crossing, input: {} });
    const rc = await ended(c.runId);
    expect(rc.status).toBe('failed');
    expect(rc.error).toMatchObject({ code: 'E_NOT_FOUND' });
    const runsOfOther = await db.ownerPool.query(
      'select 1 from workflow_runs where tenant_id = $1',
      [other],
    );
    expect(runsOfOther.rowCount).toBe(0);
  });

  it('a cycle of calls the save could not see stops at 10 runs deep (E_CALL_DEPTH_EXCEEDED)', async () => {
    // A calls B, B calls A — written past the save's check, as a later edit of B could.
    const a = await publishV2(db.pool, tenantId, {
      steps: [{ id: 'x', actionId, input: {} }],
    });
    const call = (to: WorkflowId) => ({
      steps: [{ id: 'call', type: 'callWorkflow', workflowId: to, input: {}, wait: false }],
    });
    const b = await publishV2(db.pool, tenantId, call(a));
    const v = await db.ownerPool.query<{ id: string }>(
      `insert into workflow_versions (tenant_id, workflow_id, version, definition)
       values ($1, $2, 2, $3) returning id`,
      [tenantId, a, JSON.stringify({ version: 2, ...call(b) })],
    );
    await db.ownerPool.query('update workflows set current_version_id = $2 where id = $1', [
      a,
      v.rows[0]!.id,
    ]);
    const { runId } = await startRun(engineDeps(db.pool), { tenantId, workflowId: a, input: {} });
    // Each run starts the next and ends; the chain's 10th run may start no 11th.
    const chain: string[] = [runId];
    for (let i = 1; i < 10; i++) {
      await ended(chain.at(-1)!);
      chain.push(((await childOf(chain.at(-1)!)).output as { runId: string }).runId);
    }
    const last = await ended(chain.at(-1)!);
    expect(last.status).toBe('failed');
    expect(last.error).toMatchObject({ code: 'E_CALL_DEPTH_EXCEEDED' });
    expect((last.error as { message: string }).message).toMatch(/cycle/);
    const runs = await db.ownerPool.query(
      'select 1 from workflow_runs where workflow_id = any($1::uuid[])',
      [[a, b]],
    );
    expect(runs.rowCount).toBe(10);
  });
});
