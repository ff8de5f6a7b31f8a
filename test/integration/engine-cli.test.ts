import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker } from '../../src/engine/worker.ts';
import { runCli, spawnCli, cliEnvFor } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  engineDeps,
  makeAction,
  makeWorkflow,
  scriptedExecutor,
  waitFor,
} from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { freePort } from '../support/free-port.ts';

let db: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  env = cliEnvFor(db, {
    SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
    WORKER_POLL_MS: '100',
  });
});
afterAll(async () => {
  await db.drop();
});

describe('engine commands', () => {
  it('switchyard worker runs queued steps, counts them on its /metrics and stops cleanly on SIGTERM', async () => {
    const tenantId = (await makeTenant(db.pool)).tenantId;
    const actionId = await makeAction(db.pool, tenantId);
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId }]);
    const { runId } = await startRun(engineDeps(db.pool), { tenantId, workflowId, input: {} });
    const metricsPort = await freePort();
    const child = spawnCli(['worker'], { ...env, WORKER_METRICS_PORT: String(metricsPort) });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const status = await waitFor(
        async () => {
          const r = await db.ownerPool.query<{ status: string }>(
            'select status from workflow_runs where id = $1',
            [runId],
          );
          const s = r.rows[0]?.status;
          return s !== 'queued' && s !== 'running' && s;
        },
        { timeoutMs: 30_000, what: 'the worker command to finish the run' },
      );
      // Whatever executor this build wires in (cli/executor.ts), the run reached a final state.
      expect(['succeeded', 'failed', 'dead']).toContain(status);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const outcome = status === 'succeeded' ? 'succeeded' : 'failed';
      expect(metrics).toContain(
        `switchyard_step_attempts_total{kind="javascript",outcome="${outcome}"} 1\n`,
      );
      expect(metrics).toContain(`switchyard_run_duration_seconds_count{status="${status}"} 1\n`);
      // Step durations by action kind and outcome (a histogram: one observation).
      expect(metrics).toContain(
        `switchyard_step_duration_seconds_count{kind="javascript",outcome="${outcome}"} 1\n`,
      );
      expect(metrics).toMatch(
        new RegExp(
          `switchyard_step_duration_seconds_bucket\\{le="\\+Inf",kind="javascript",outcome="${outcome}"\\} 1\n`,
        ),
      );
      expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('switchyard worker refuses a WORKER_METRICS_PORT in use, naming it', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['worker'], { ...env, WORKER_METRICS_PORT: String(port) });
      expect(r.code).not.toBe(0);
      expect(r.stderr + r.stdout).toContain('E_PORT_IN_USE');
      expect(r.stderr + r.stdout).toContain('WORKER_METRICS_PORT');
    } finally {
      taken.close();
    }
  });

  it('switchyard dlq list and replay', async () => {
    const tenantId = (await makeTenant(db.pool)).tenantId;
    const actionId = await makeAction(db.pool, tenantId);
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId }]);
    const deps = engineDeps(db.pool);
    const w = createWorker(deps, {
      executor: scriptedExecutor(() => ({
        status: 'failed',
        error: { code: 'E_NETWORK', message: 'down', retryable: true },
      })),
    });
    w.start();
    const { runId } = await startRun(deps, { tenantId, workflowId, input: { n: 1 } });
    await waitFor(async () => {
      const r = await db.ownerPool.query('select 1 from dead_letters where run_id = $1', [runId]);
      return r.rowCount === 1;
    });
    await w.stop();
    const list = await runCli(['dlq', 'list', '--tenant', tenantId, '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as {
      id: string;
      runId: string;
      error: { code: string };
    }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ runId, error: { code: 'E_NETWORK' } });
    const replay = await runCli(
      ['dlq', 'replay', '--tenant', tenantId, '--id', rows[0]!.id, '--from', 'start', '--json'],
      env,
    );
    expect(replay.code, replay.stderr).toBe(0);
    const [r] = JSON.parse(replay.stdout) as { newRunId: string }[];
    const linked = await db.ownerPool.query(
      'select replay_of_run_id, status from workflow_runs where id = $1',
      [r!.newRunId],
    );
    expect(linked.rows[0]).toEqual({ replay_of_run_id: runId, status: 'queued' });
    // Replayed once: the same command answers that replay; --again makes a new one.
    const twice = await runCli(['dlq', 'replay', '--tenant', tenantId, '--id', rows[0]!.id], env);
    expect(twice.code, twice.stderr).toBe(0);
    expect(twice.stdout).toContain(`was already replayed as ${r!.newRunId}`);
    expect(twice.stdout).toContain('0 run(s) replayed from failed-step, 1 already replayed.');
    const again = await runCli(
      ['dlq', 'replay', '--tenant', tenantId, '--id', rows[0]!.id, '--again', '--json'],
      env,
    );
    expect(again.code, again.stderr).toBe(0);
    const [a] = JSON.parse(again.stdout) as { newRunId: string; alreadyReplayed: boolean }[];
    expect(a).toMatchObject({ alreadyReplayed: false });
    expect(a!.newRunId).not.toBe(r!.newRunId);
    const replays = await db.ownerPool.query(
      'select origin_run_id from workflow_runs where replay_of_run_id = $1',
      [runId],
    );
    expect(replays.rows).toEqual([{ origin_run_id: runId }, { origin_run_id: runId }]);
    const bad = await runCli(['dlq', 'replay', '--tenant', tenantId], env);
    expect(bad.code).toBe(2);
  });
});
