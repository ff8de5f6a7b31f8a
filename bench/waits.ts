/**
 * Waits benchmark (not a test): `npm run bench:waits` (node bench/waits.ts).
 * Starts its own embedded PostgreSQL (fsync on) on 127.0.0.1 and measures, in one run:
 *   (a) database bytes per waiting run: 100,000 runs waiting at a `delay` step, inserted in
 *       bulk by SQL through the real tables (one INSERT … SELECT generate_series per table, the
 *       rows the engine writes for a wait: run `waiting`, StepRun `waiting` with wait_until,
 *       job `pending` at run_at = wait_until, attempt uncounted), size of workflow_runs +
 *       step_runs + jobs with indexes before and after, divided by 100,000;
 *   (b) CPU of the worker process and of PostgreSQL (all its processes, from /proc) over 20 s
 *       while the 100,000 wait and none is due, as a share of one core;
 *   (c) lateness of 10,000 of them due in one burst: their next step's start − their time;
 *   (d) resumeRun → next step start p50/p95 (engine/resume.ts, the function behind the
 *       mutation and the webhook), one run at a time, the 90,000 others still waiting; beside
 *       (e) the baseline measured in the same run: a single-step run's start → its step start.
 * Writes the "Waits" section of bench/RESULTS.md. Every process it starts (PostgreSQL) is
 * stopped by its own handle; the worker runs in this process.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createTenantWithOwner } from '../src/accounts/create-tenant.ts';
import { loadConfig } from '../src/config/index.ts';
import { defaultEngineConfig } from '../src/config/engine.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { deriveAppUrl, deriveSystemUrl, ensureAppRole } from '../src/db/roles.ts';
import { bindSystemPool } from '../src/db/system-pool.ts';
import { withTenant } from '../src/db/tenant.ts';
import { systemClock, systemRandom, type EngineDeps } from '../src/engine/deps.ts';
import { resumeWait } from '../src/engine/resume.ts';
import { startRun } from '../src/engine/start-run.ts';
import { createWorker } from '../src/engine/worker.ts';
import type { RunId, TenantId, WorkflowId, WorkflowVersionId } from '../src/model/ids.ts';
import type { StepExecutor } from '../src/model/step.ts';
import { createLogger } from '../src/observability/logger.ts';
import { runnerMapping } from '../src/runner/mapping-evaluator.ts';
import { openSecretBox } from '../src/security/open-secrets.ts';
import { createWaitTokens } from '../src/security/wait-tokens.ts';
import { makeNoopAction, pct, progress, waitUntil, writeResultsSection } from './kit.ts';

const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'silent', name: 'bench' });
const WAITING = Number(process.env.BENCH_WAITING ?? 100_000);
const BURST = Number(process.env.BENCH_BURST ?? 10_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300);
const IDLE_S = 20;
const BURST_IN_S = Number(process.env.BENCH_BURST_IN_S ?? 90);
/** (c') runs whose deadlines come one after another at SPREAD_RATE per second. */
const SPREAD = Number(process.env.BENCH_SPREAD ?? 3_000);
const SPREAD_RATE = Number(process.env.BENCH_SPREAD_RATE ?? 100);

const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-bench-waits-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const server = await startEmbeddedPostgres({
    dataDir,
    port,
    logger,
    settings: { max_connections: '100', shared_buffers: '256MB' },
  });
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
    const systemPool = createPool({
      url: deriveSystemUrl(appUrl),
      max: 5,
      connectTimeoutMs: 5_000,
      applicationName: 'bench-system',
      logger,
    });
    bindSystemPool(pool, systemPool);
    const owner = new pg.Pool({ connectionString: server.ownerUrl, max: 4 });
    for (const p of [pool, systemPool, owner]) p.on('error', () => undefined);
    const config = loadConfig({ SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
    const secretBox = await openSecretBox(config.security, {
      dataDir,
      embeddedDatabase: false,
      logger,
      pool,
    });
    const deps: EngineDeps = {
      pool,
      clock: systemClock,
      random: systemRandom,
      logger,
      config: defaultEngineConfig({
        workerConcurrency: 32,
        tenantMaxConcurrency: 1_000,
        pollMs: 1_000,
      }),
    };
    const { tenantId } = await createTenantWithOwner(pool, {
      name: 'Bench',
      ownerEmail: 'bench@example.test',
      actor: { kind: 'system', id: 'bench' },
    });
    const actionId = await makeNoopAction(pool, tenantId);
    const delayed = await makeVersion(pool, tenantId, {
      version: 2,
      steps: [
        { id: 'pause', type: 'delay', duration: '1h' },
        { id: 'after', actionId },
      ],
    });
    const approval = await makeVersion(pool, tenantId, {
      version: 2,
      steps: [
        { id: 'approve', type: 'waitForEvent', timeout: '1h' },
        { id: 'after', actionId },
      ],
    });
    const single = await makeVersion(pool, tenantId, { steps: [{ id: 'after', actionId }] });

    // The executor notes when each run's step `after` starts (its lateness, its latency).
    const afterAt = new Map<string, { wall: number; mono: number }>();
    const executor: StepExecutor = {
      execute(req) {
        if (req.context.stepId === 'after' && !afterAt.has(req.context.runId))
          afterAt.set(req.context.runId, { wall: Date.now(), mono: performance.now() });
        return Promise.resolve({ status: 'succeeded', input: {}, output: null });
      },
    };

    progress('(a) bulk insert of the waiting runs');
    const before = await engineBytes(owner);
    const burstAt = new Date(Date.now() + BURST_IN_S * 1000);
    const t0 = performance.now();
    await insertWaitingRuns(owner, tenantId, delayed, WAITING, BURST, burstAt);
    const insertS = (performance.now() - t0) / 1000;
    await owner.query('vacuum analyze jobs, workflow_runs, step_runs');
    const after = await engineBytes(owner);
    const bytesPerRun = (after - before) / WAITING;

    const worker = createWorker(
      { ...deps },
      { executor, listenUrl: appUrl, mapping: runnerMapping },
    );
    worker.start();
    progress('(b) idle CPU while they wait');
    await sleep(2_000);
    const cpu0 = process.cpuUsage();
    const pg0 = await cpuTicks(await postgresPids(owner));
    const w0 = performance.now();
    await sleep(IDLE_S * 1000);
    const wallS = (performance.now() - w0) / 1000;
    const cpu1 = process.cpuUsage(cpu0);
    const pg1 = await cpuTicks(await postgresPids(owner));
    const workerCpu = (cpu1.user + cpu1.system) / 1e6 / wallS;
    // Per process: a backend that started meanwhile counts whole; one that ended is lost.
    let pgTicks = 0;
    for (const [pid, t] of pg1) pgTicks += Math.max(0, t - (pg0.get(pid) ?? 0));
    const pgCpu = pgTicks / 100 / wallS;

    if (Date.now() >= burstAt.getTime())
      throw new Error('bench: the idle window ran into the burst; raise BENCH_BURST_IN_S');
    progress('(c) the burst');
    const remaining = burstAt.getTime() - Date.now();
    if (remaining > 0) await sleep(remaining);
    await waitUntil(() => afterAt.size >= BURST, 600_000);
    const lateness = [...afterAt.values()]
      .map((a) => a.wall - burstAt.getTime())
      .sort((a, b) => a - b);
    const burstSpanS =
      (Math.max(...[...afterAt.values()].map((a) => a.wall)) - burstAt.getTime()) / 1000;

    progress("(c') deadlines spread over time");
    const spreadAt = new Date(Date.now() + 5_000);
    await insertWaitingRuns(owner, tenantId, delayed, SPREAD, SPREAD, spreadAt, SPREAD_RATE);
    const spreadSeen = afterAt.size;
    await waitUntil(() => afterAt.size >= spreadSeen + SPREAD, 600_000);
    const spreadUntil = await owner.query<{ run_id: string; until: Date }>(
      `select run_id, wait_until as until from step_runs
        where step_id = 'pause' and wait_until >= $1`,
      [spreadAt],
    );
    const spreadLateness = spreadUntil.rows
      .flatMap((r) => {
        const a = afterAt.get(r.run_id);
        return a ? [a.wall - r.until.getTime()] : [];
      })
      .sort((a, b) => a - b);

    progress('(d) resumeRun → next step');
    const waitTokens = createWaitTokens({ secretBox, publicUrl: 'http://127.0.0.1' });
    const waiting: RunId[] = [];
    for (let i = 0; i < SAMPLES; i++)
      waiting.push(
        (await startRun(deps, { tenantId, workflowId: approval.workflowId, input: { i } })).runId,
      );
    await waitUntil(
      async () => (await countWaitingSteps(owner, 'approve')) >= SAMPLES,
      120_000,
      100,
    );
    const resumeLat: number[] = [];
    const resumeTx: number[] = [];
    for (const runId of waiting) {
      const links = await withTenant(pool, tenantId, (db) =>
        waitTokens.linksFor(db, { tenantId, runId }, ['approve']),
      );
      const s = performance.now();
      await resumeWait(
        { pool, clock: systemClock, waitTokens, maxPayloadBytes: 1_048_576 },
        {
          tenantId,
          runId,
          token: links.approve!.token,
          payload: { ok: true },
          actor: { kind: 'system', id: 'bench' },
        },
      );
      resumeTx.push(performance.now() - s);
      await waitUntil(() => afterAt.has(runId), 10_000, 0.2);
      resumeLat.push(afterAt.get(runId)!.mono - s);
      await sleep(5);
    }
    resumeLat.sort((a, b) => a - b);
    resumeTx.sort((a, b) => a - b);

    progress('(e) baseline: start → first step');
    const baseLat: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const s = performance.now();
      const { runId } = await startRun(deps, {
        tenantId,
        workflowId: single.workflowId,
        input: { i },
      });
      await waitUntil(() => afterAt.has(runId), 10_000, 0.2);
      baseLat.push(afterAt.get(runId)!.mono - s);
      await sleep(5);
    }
    baseLat.sort((a, b) => a - b);
    await worker.stop();

    const rows = [
      [
        '(a) database bytes per waiting run',
        `${Math.round(bytesPerRun)} B`,
        `${WAITING} runs waiting at a delay (run + StepRun + job rows and their indexes, after vacuum); bulk insert ${insertS.toFixed(1)} s`,
        '',
      ],
      [
        '(b) CPU while they wait: worker / PostgreSQL',
        `${(workerCpu * 100).toFixed(1)} % / ${(pgCpu * 100).toFixed(1)} % of a core`,
        `${IDLE_S} s, none due; the worker polls every ${deps.config.pollMs} ms`,
        'no work per waiting run',
      ],
      [
        '(c) lateness after their time, p50 / p99',
        `${ms(pct(lateness, 50))} / ${ms(pct(lateness, 99))} ms`,
        `${BURST} due at the same instant, 1 worker (32 slots); the last one ${burstSpanS.toFixed(1)} s after`,
        '',
      ],
      [
        "(c') lateness after their time, deadlines spread, p50 / p99",
        `${ms(pct(spreadLateness, 50))} / ${ms(pct(spreadLateness, 99))} ms`,
        `${spreadLateness.length} runs due one after another at ${SPREAD_RATE}/s (a steady stream of deadlines, below the drain rate of (c)), ${WAITING - BURST} others waiting`,
        'p99 ≤ 1 s',
      ],
      [
        '(d) resumeRun → next step start, p50 / p95',
        `${ms(pct(resumeLat, 50))} / ${ms(pct(resumeLat, 95))} ms`,
        `${SAMPLES} resumes one at a time, ${WAITING - BURST} other runs waiting; of which the resume's own transaction (token check, StepRun, job, audit event) ${ms(pct(resumeTx, 50))} / ${ms(pct(resumeTx, 95))} ms`,
        'p95 ≤ 20 ms',
      ],
      [
        '(e) baseline: single-step run start → step start, p50 / p95',
        `${ms(pct(baseLat, 50))} / ${ms(pct(baseLat, 95))} ms`,
        `${SAMPLES} starts one at a time, same worker and database`,
        'reference',
      ],
    ];
    const table = [
      '| measure | result | notes | target |',
      '|---|---|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
    const load = os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ');
    const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, embedded PostgreSQL (fsync on); load average at the end ${load} (other processes share the machine)`;
    process.stdout.write(`\n${table}\n\nMachine: ${machine}\n`);
    await writeResults(table, machine);
    await pool.end();
    await systemPool.end();
    await owner.end();
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function makeVersion(
  pool: pg.Pool,
  tenantId: TenantId,
  definition: unknown,
): Promise<{ workflowId: WorkflowId; versionId: WorkflowVersionId }> {
  return withTenant(pool, tenantId, async (db) => {
    const wf = await db.query<{ id: WorkflowId }>(
      `insert into workflows (tenant_id, name) values ($1, 'bench ' || gen_random_uuid()) returning id`,
      [tenantId],
    );
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

/**
 * `n` runs waiting at the version's first step (a delay), as the engine leaves a wait: the
 * first `burst` due at `burstAt` (or, with `perS`, one after another from `burstAt` at `perS`
 * a second), the others an hour on. One statement per table.
 */
async function insertWaitingRuns(
  owner: pg.Pool,
  tenantId: TenantId,
  wf: { workflowId: WorkflowId; versionId: WorkflowVersionId },
  n: number,
  burst: number,
  burstAt: Date,
  perS = 0,
): Promise<void> {
  await owner.query(
    `create temporary table bench_waiting as
       select gen_random_uuid() as id, g,
              case when g <= $2
                   then $3::timestamptz + case when $4::float8 > 0
                        then make_interval(secs => (g - 1) / $4::float8) else interval '0' end
                   else $3::timestamptz + interval '1 hour' end as until
         from generate_series(1, $1) g`,
    [n, burst, burstAt, perS],
  );
  await owner.query(
    `insert into workflow_runs (tenant_id, id, workflow_id, workflow_version_id, input, status, started_at, created_at)
     select $1, id, $2, $3, jsonb_build_object('i', g), 'waiting', now(), now() from bench_waiting`,
    [tenantId, wf.workflowId, wf.versionId],
  );
  await owner.query(
    `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, input, started_at, wait_until)
     select $1, id, 'pause', 0, 1, 'waiting', '{"durationMs": 3600000}', now(), until from bench_waiting`,
    [tenantId],
  );
  await owner.query(
    `insert into jobs (tenant_id, run_id, step_index, attempt, status, run_at, created_at)
     select $1, id, 0, 0, 'waiting', until, now() from bench_waiting`,
    [tenantId],
  );
  await owner.query('drop table bench_waiting');
}

async function engineBytes(owner: pg.Pool): Promise<number> {
  const r = await owner.query<{ b: string }>(
    `select sum(pg_total_relation_size(t))::text as b
       from unnest(array['workflow_runs', 'step_runs', 'jobs']::regclass[]) t`,
  );
  return Number(r.rows[0]!.b);
}

async function countWaitingSteps(owner: pg.Pool, stepId: string): Promise<number> {
  const r = await owner.query<{ n: number }>(
    `select count(*)::int as n from step_runs where step_id = $1 and status = 'waiting'`,
    [stepId],
  );
  return r.rows[0]!.n;
}

/** The postmaster and its children (backends, background workers). */
async function postgresPids(owner: pg.Pool): Promise<number[]> {
  const dir = (await owner.query<{ d: string }>("select current_setting('data_directory') as d"))
    .rows[0]!.d;
  const postmaster = Number(
    (await readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n')[0],
  );
  const pids = [postmaster];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = await readFile(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** utime + stime (clock ticks, 100 per second on Linux) of each of `pids`. */
async function cpuTicks(pids: number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(pid, Number(f[11]) + Number(f[12]));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

/** How to read the table (kept with the figures when the section is rewritten). */
const READING = `How it is measured: the waiting runs are inserted in bulk by SQL (bench/waits.ts,
\`insertWaitingRuns\`: one INSERT … SELECT from generate_series per table) with the rows the engine
writes when a run reaches a delay — the run \`waiting\`, its StepRun \`waiting\` with \`wait_until\`,
its job \`waiting\` until \`run_at = wait_until\` with the attempt uncounted — so that 100,000 runs wait
within seconds; the engine then treats them as its own (the burst is claimed, decided and
continued by the real worker). A waiting run costs rows only: the worker's poll and PostgreSQL
do no work per waiting run, which (b) shows. Lateness (c) is that of a burst: the 10,000 come due
together and one worker (32 slots) drains them — its upkeep statement makes due waiting jobs
pending 1,000 at a time, then two transitions each (the wait's end, then the next step) — so the
median waits for half the burst. (c') is the case the 1 s target is about: deadlines that come
one after another, as waits of real runs do, at a rate the worker keeps up with. Each upkeep
statement also answers the next waiting deadline (one probe of the waiting jobs' index), and the
worker sets its timer for it when it is before its next poll: a wait recorded long ago, or by
another worker, starts within milliseconds of its time instead of up to a poll interval
(WORKER_POLL_MS, 1 s) late, as before this change. All figures move with the machine's load (the
baseline (e) shows how much: compare runs by their ratio to it). (d) counts from the call of
resumeWait (the function behind resumeRun and the resume webhook) to the next step's start on
the worker: the resume's own durable transaction, the NOTIFY, the claim, the recorded outcome
and the next step's start; beside it (e), a start's own path (one durable transaction, the
claim). The p50 gap between them is about the resume's transaction.`;

async function writeResults(table: string, machine: string): Promise<void> {
  await writeResultsSection(
    'Waits',
    `Recorded ${new Date().toISOString()} by \`npm run bench:waits\`.\n\n${table}\n\nMachine: ${machine}\n\n${READING}\n`,
  );
}

await main();
