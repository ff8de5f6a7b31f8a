/**
 * Engine benchmark (not a test): `npm run bench:engine` (node bench/engine.ts).
 * Starts its own embedded PostgreSQL with normal durability (fsync and synchronous_commit on)
 * and measures, in one run on one machine:
 *   (a) start → first-step-start latency p50/p95/p99 at a steady 200 runs/s;
 *   (b) completed single-step runs/s with 1 and 2 worker processes;
 *   (c) per-step overhead of a 40-step no-op workflow;
 *   (d) pgbench single-row INSERT TPS on the same server (8 and 32 clients), the physical
 *       reference printed beside (b).
 * Prints a table and writes the "Engine" section of bench/RESULTS.md.
 * `node bench/engine.ts --worker` is the worker process used by (b).
 */
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { defaultEngineConfig } from '../src/config/engine.ts';
import { createTenantWithOwner } from '../src/accounts/create-tenant.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { deriveAppUrl, ensureAppRole } from '../src/db/roles.ts';
import { withTenant } from '../src/db/tenant.ts';
import { systemClock, systemRandom, type EngineDeps } from '../src/engine/deps.ts';
import { startRun } from '../src/engine/start-run.ts';
import { createWorker } from '../src/engine/worker.ts';
import type { TenantId, WorkflowId, WorkflowVersionId } from '../src/model/ids.ts';
import type { StepExecutor } from '../src/model/step.ts';
import { createLogger } from '../src/observability/logger.ts';
import { pct, waitUntil, writeResultsSection } from './kit.ts';

const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'silent', name: 'bench' });
const PGBENCH = process.env.PGBENCH ?? '/usr/lib/postgresql/15/bin/pgbench';
const WORKER_CONCURRENCY = 32;

function engineDeps(pool: pg.Pool): EngineDeps {
  return {
    pool,
    clock: systemClock,
    random: systemRandom,
    logger,
    config: defaultEngineConfig({
      workerConcurrency: WORKER_CONCURRENCY,
      tenantMaxConcurrency: 1_000,
      pollMs: 500,
    }),
  };
}

const noop: StepExecutor = {
  execute: () => Promise.resolve({ status: 'succeeded', input: {}, output: null }),
};

if (process.argv.includes('--worker')) {
  const url = process.env.BENCH_APP_URL!;
  const pool = createPool({
    url,
    max: 20,
    connectTimeoutMs: 5_000,
    applicationName: 'bench-worker',
    logger,
  });
  const w = createWorker(engineDeps(pool), { executor: noop, listenUrl: url });
  w.start();
  process.stdout.write('ready\n');
  process.on(
    'SIGTERM',
    () =>
      void w
        .stop()
        .then(() => pool.end())
        .then(() => process.exit(0)),
  );
} else {
  await main();
}

function progress(phase: string): void {
  process.stderr.write(`bench: phase (${phase}) at ${new Date().toISOString()}\n`);
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-bench-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const server = await startEmbeddedPostgres({
    dataDir,
    port,
    logger,
    settings: { max_connections: '200', shared_buffers: '256MB' },
  });
  const children: ReturnType<typeof spawn>[] = [];
  try {
    await migrate(server.ownerUrl, { logger });
    await ensureAppRole(server.ownerUrl, {
      role: 'switchyard_app',
      password: server.appPassword,
      logger,
    });
    const appUrl = deriveAppUrl(server.ownerUrl, 'switchyard_app', server.appPassword);
    const pool = createPool({
      url: appUrl,
      max: 20,
      connectTimeoutMs: 5_000,
      applicationName: 'bench',
      logger,
    });
    const owner = new pg.Pool({ connectionString: server.ownerUrl, max: 4 });
    owner.on('error', () => undefined);
    pool.on('error', () => undefined);
    const deps = engineDeps(pool);
    const { tenantId } = await createTenantWithOwner(pool, {
      name: 'Bench',
      ownerEmail: 'bench@example.test',
      actor: { kind: 'system', id: 'bench' },
    });
    const single = await makeWorkflow(pool, tenantId, 1);
    const forty = await makeWorkflow(pool, tenantId, 40);

    progress('a');
    // (a) latency at a steady 200 runs/s, in-process worker (one clock for both ends).
    const started = new Map<string, number>();
    const firstStep = new Map<string, number>();
    const latencyExecutor: StepExecutor = {
      execute(req) {
        if (req.context.stepIndex === 0 && !firstStep.has(req.context.runId))
          firstStep.set(req.context.runId, performance.now());
        return noop.execute(req, new AbortController().signal);
      },
    };
    const w = createWorker(deps, { executor: latencyExecutor, listenUrl: appUrl });
    w.start();
    const rate = 200;
    const seconds = 10;
    const t0 = performance.now();
    const starts: Promise<void>[] = [];
    for (let i = 0; i < rate * seconds; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const s = performance.now();
      starts.push(
        startRun(deps, { tenantId, workflowId: single.workflowId, input: { i } }).then((r) => {
          started.set(r.runId, s);
        }),
      );
    }
    await Promise.all(starts);
    await waitUntil(() => firstStep.size >= started.size, 30_000);
    const achievedRate = (rate * seconds * 1000) / (performance.now() - t0);
    const lat = [...started].map(([id, s]) => firstStep.get(id)! - s).sort((a, b) => a - b);
    await w.stop();

    // Statistics as a server that has been running has them (autovacuum); without them the
    // plans cached during (a), on near-empty tables, would be used on thousands of rows.
    await analyzeEngineTables(owner);
    progress('c');
    // (c) per-step overhead: 40 no-op steps, 4 runs at a time; the gap between consecutive
    // step starts of one run is the engine's whole cost of a step. Measured with the default
    // (durable step transitions) and with ENGINE_ASYNC_COMMIT=true.
    const measureSteps = async (asyncCommit: boolean): Promise<number[]> => {
      const stepStarts = new Map<string, number[]>();
      const stepExecutor: StepExecutor = {
        execute(req) {
          const arr = stepStarts.get(req.context.runId) ?? [];
          arr.push(performance.now());
          stepStarts.set(req.context.runId, arr);
          return noop.execute(req, new AbortController().signal);
        },
      };
      const w40 = createWorker(
        { ...deps, config: { ...deps.config, workerConcurrency: 4, asyncCommit } },
        { executor: stepExecutor, listenUrl: appUrl },
      );
      w40.start();
      const fortyRuns = 24;
      for (let i = 0; i < fortyRuns; i++)
        await startRun(deps, { tenantId, workflowId: forty.workflowId, input: { i } });
      await waitUntil(
        () => [...stepStarts.values()].filter((a) => a.length === 40).length === fortyRuns,
        120_000,
      );
      await waitUntil(async () => (await countQueued(owner)) === 0, 30_000);
      await w40.stop();
      return [...stepStarts.values()]
        .flatMap((a) => a.slice(1).map((t, i) => t - a[i]!))
        .sort((a, b) => a - b);
    };
    const gaps = await measureSteps(false);
    const gapsAsync = await measureSteps(true);

    progress('b');
    // (b) throughput with 1 and 2 worker processes over a preloaded backlog.
    const throughput: { workers: number; runs: number; runsPerS: number }[] = [];
    for (const workers of [1, 2]) {
      const n = Number(process.env.BENCH_RUNS_B ?? 12_000);
      await preload(owner, tenantId, single, n);
      const procs = await Promise.all(
        Array.from({ length: workers }, () => spawnWorker(appUrl, children)),
      );
      await waitUntil(async () => (await countQueued(owner)) === 0, 180_000, 250);
      const span = await owner.query<{ s: number }>(
        `select extract(epoch from max(finished_at) - min(started_at)) as s from workflow_runs
          where input ? 'preload' and input->>'preload' = $1`,
        [String(workers)],
      );
      throughput.push({ workers, runs: n, runsPerS: n / Number(span.rows[0]!.s) });
      process.stderr.write(
        `bench: (b) ${workers} worker(s): ${(n / Number(span.rows[0]!.s)).toFixed(0)} runs/s\n`,
      );
      for (const p of procs) p.kill('SIGTERM');
      await Promise.all(procs.map((p) => new Promise((r) => p.once('exit', r))));
    }

    progress('d');
    // (d) pgbench single-row INSERT on the same server.
    await owner.query(
      'create table if not exists bench_insert (id bigserial primary key, v int, t timestamptz default now())',
    );
    const script = path.join(dataDir, 'insert.sql');
    await writeFile(script, 'insert into bench_insert (v) values (1);\n');
    const pgbench = async (clients: number) => {
      const u = new URL(server.ownerUrl);
      const { stdout } = await promisify(execFile)(
        PGBENCH,
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'postgres',
          '-n',
          '-f',
          script,
          '-c',
          String(clients),
          '-j',
          '2',
          '-T',
          '10',
          u.pathname.slice(1),
        ],
        { env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) } },
      );
      const m = /tps = ([\d.]+)/.exec(stdout);
      return m ? Number(m[1]) : Number.NaN;
    };
    const tps8 = await pgbench(8);
    const tps32 = await pgbench(32);

    await pool.end();
    await owner.end();
    const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}, embedded PostgreSQL (fsync on, synchronous_commit on); load average at the end ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')} (other processes share the machine)`;
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 0) : 'n/a');
    const rows = [
      [
        '(a) start → first step start, p50 / p95 / p99',
        `${f(pct(lat, 50))} / ${f(pct(lat, 95))} / ${f(pct(lat, 99))} ms`,
        `at ${f(achievedRate)} runs/s offered (target 200), ${lat.length} runs`,
        'p95 ≤ 10 ms',
      ],
      ...throughput.map((t) => [
        `(b) single-step runs/s, ${t.workers} worker process${t.workers > 1 ? 'es' : ''}`,
        `${f(t.runsPerS)} runs/s`,
        `${t.runs} runs; ${(t.runsPerS / tps8).toFixed(2)} × pgbench-8, ${(t.runsPerS / tps32).toFixed(2)} × pgbench-32`,
        '≥ 2,000 runs/s',
      ]),
      [
        '(c) per-step overhead, 40-step no-op, p50 / p95',
        `${f(pct(gaps, 50))} / ${f(pct(gaps, 95))} ms`,
        `${gaps.length} step transitions, 4 runs at a time`,
        'p50 ≤ 3 ms',
      ],
      [
        '(c) the same with ENGINE_ASYNC_COMMIT=true, p50 / p95',
        `${f(pct(gapsAsync, 50))} / ${f(pct(gapsAsync, 95))} ms`,
        'step transitions commit without waiting for the WAL flush',
        'p50 ≤ 3 ms',
      ],
      [
        '(d) pgbench single-row INSERT, 8 / 32 clients',
        `${f(tps8)} / ${f(tps32)} TPS`,
        'same server, 10 s each',
        'reference',
      ],
    ];
    const table = [
      '| measure | result | notes | target |',
      '|---|---|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
    process.stdout.write(`\n${table}\n\nMachine: ${machine}\n`);
    await writeResults(table, machine);
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function makeWorkflow(
  pool: pg.Pool,
  tenantId: TenantId,
  steps: number,
): Promise<{ workflowId: WorkflowId; versionId: WorkflowVersionId }> {
  return withTenant(pool, tenantId, async (db) => {
    const app = await db.query<{ id: string }>(
      `insert into apps (tenant_id, key, name) values ($1, 'bench-' || $2, 'Bench') returning id`,
      [tenantId, steps],
    );
    const action = await db.query<{ id: string }>(
      `insert into actions (tenant_id, app_id, key, name, kind, implementation, retry_strategy, max_attempts)
       values ($1, $2, 'noop', 'No-op', 'javascript', '{"code": ""}', 'none', 1) returning id`,
      [tenantId, app.rows[0]!.id],
    );
    const wf = await db.query<{ id: WorkflowId }>(
      `insert into workflows (tenant_id, name) values ($1, $2) returning id`,
      [tenantId, `bench ${steps}`],
    );
    const definition = {
      steps: Array.from({ length: steps }, (_, i) => ({
        id: `s${i}`,
        actionId: action.rows[0]!.id,
        input: {},
        onError: 'fail',
      })),
    };
    const v = await db.query<{ id: WorkflowVersionId }>(
      `insert into workflow_versions (tenant_id, workflow_id, version, definition) values ($1, $2, 1, $3) returning id`,
      [tenantId, wf.rows[0]!.id, JSON.stringify(definition)],
    );
    await db.query(
      'update workflows set current_version_id = $3 where tenant_id = $1 and id = $2',
      [tenantId, wf.rows[0]!.id, v.rows[0]!.id],
    );
    return { workflowId: wf.rows[0]!.id, versionId: v.rows[0]!.id };
  });
}

/** A backlog of queued single-step runs (run + job rows, as startRun writes them). */
async function preload(
  owner: pg.Pool,
  tenantId: TenantId,
  wf: { workflowId: WorkflowId; versionId: WorkflowVersionId },
  n: number,
): Promise<void> {
  const tag = (
    await owner.query<{ n: number }>(
      `select count(distinct input->>'preload')::int + 1 as n from workflow_runs where input ? 'preload'`,
    )
  ).rows[0]!.n;
  await owner.query(
    `with r as (
       insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, input)
       select $1, $2, $3, jsonb_build_object('preload', $5::text, 'i', g) from generate_series(1, $4) g
       returning tenant_id, id)
     insert into jobs (tenant_id, run_id, step_index) select tenant_id, id, 0 from r`,
    [tenantId, wf.workflowId, wf.versionId, n, String(tag)],
  );
  await analyzeEngineTables(owner);
}

/**
 * What autovacuum does on a server that has been running: statistics for the tables the
 * engine's statements read, so that their plans are those of a steady state, not those of a
 * database created seconds ago (whose statistics still describe empty tables).
 */
async function analyzeEngineTables(owner: pg.Pool): Promise<void> {
  await owner.query('analyze jobs, workflow_runs, step_runs');
}

async function countQueued(owner: pg.Pool): Promise<number> {
  return (await owner.query<{ n: number }>('select count(*)::int n from jobs')).rows[0]!.n;
}

async function spawnWorker(appUrl: string, children: ReturnType<typeof spawn>[]) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--worker'], {
    env: { ...process.env, BENCH_APP_URL: appUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  return child;
}

async function writeResults(table: string, machine: string): Promise<void> {
  await writeResultsSection(
    'Engine',
    `Recorded ${new Date().toISOString()} by \`npm run bench:engine\`.\n\n${table}\n\nMachine: ${machine}\n`,
  );
}
