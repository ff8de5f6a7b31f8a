/**
 * End-to-end benchmark: what a user of `npm start` gets. `npm run bench:e2e` starts
 * `switchyard start` (one process: API, webhooks, worker; embedded PostgreSQL) on a fresh data
 * dir, and a second layout (`switchyard api` + `switchyard worker`), a local HTTP target, and
 * drives signed webhooks at fixed concurrency for three workflows (an HTTP step to the local
 * target, a JavaScript step, code → HTTP → code), counting runs until every one finished.
 *
 * Per line: completed runs/s (load + drain), ingress 202/s and p50/p95/p99, drain time and rate
 * once ingress stops, Node RSS, commits and row writes per run (pg_stat_database,
 * pg_stat_user_tables), CPU seconds of Node and of PostgreSQL per 1,000 runs. Then the start →
 * first step latency at a steady 200 runs/s, and the drain rate over a backlog of 1,000 and of
 * 100,000 queued runs with the claim statement's plan.
 *
 * BENCH_BASELINE=<dir of another checkout> measures that checkout too, each line right after
 * the other (same load, same machine state), each build's line with the other build's server
 * and PostgreSQL stopped (SIGSTOP … SIGCONT), so that neither pays for the other's background
 * work (autovacuum after a line): BENCH_PAUSE=0 keeps both running. `--quick`: 4 s per line (development); default
 * 20 s. `--lines=http,js,chain,split,steady,backlog` to pick. Everything listens on
 * 127.0.0.1; every process started is stopped by pid; data dirs are removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { openSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { claimJobs } from '../src/db/queries/jobs.ts';
import type { Queryable } from '../src/db/pool.ts';
import { freePort } from '../test/support/free-port.ts';
import {
  type NodeLoop,
  alone,
  diffCounters,
  foreignKeyChecks,
  postmasterPidOf,
  readCpu,
  readDbCounters,
  readNodeLoop,
  readRss,
  resetStatements,
  topStatements,
  sampleWaitEvents,
  type StatementCost,
} from './e2e-stats.ts';
import { steadyLoad } from './steady-load.ts';

const root = path.resolve(import.meta.dirname, '..');
const PAUSE = process.env.BENCH_PAUSE !== '0';
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? (QUICK ? 4 : 20));
const DRAIN_TIMEOUT_S = Number(process.env.BENCH_DRAIN_TIMEOUT_S ?? 180);
/** Seconds of unmeasured load per workflow before a server's first line (0: none). */
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? (QUICK ? 2 : 3));
const LINES = (
  args.find((a) => a.startsWith('--lines='))?.slice('--lines='.length) ??
  'http,js,chain,split,steady,backlog'
).split(',');
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? (QUICK ? '50' : '10,50'))
  .split(',')
  .map(Number);
const BACKLOG_BIG = Number(process.env.BENCH_BACKLOG ?? 100_000);
/** Backlog drains per size and build (the median is reported); `--quick`: one. */
const BACKLOG_REPEAT = Number(process.env.BENCH_BACKLOG_REPEAT ?? (QUICK ? 1 : 3));
/** Idle backends flush their statistics at most every 10 s (PGSTAT_IDLE_INTERVAL). */
const STATS_SETTLE_MS = 11_000;

export type Target = { label: string; root: string };
type WorkflowKind = 'http' | 'js' | 'chain';
type Hook = { path: string; key: Buffer; workflowId: string; versionId: string };
export type Server = {
  target: Target;
  layout: 'start' | 'split';
  url: string;
  dataDir: string;
  procs: ChildProcess[];
  owner: pg.Pool;
  postmaster: number;
  tenantId: string;
  hooks: Record<WorkflowKind, Hook>;
};
export type Line = {
  name: string;
  target: string;
  runs: number;
  completedPerS: number;
  ingressPerS: number;
  p50: number;
  p95: number;
  p99: number;
  non2xx: number;
  drainS: number;
  drainPerS: number;
  rssMb: number;
  commitsPerRun: number;
  writesPerRun: number;
  writes: Record<string, number>;
  walRecordsPerRun: number;
  walKbPerRun: number;
  fkChecksPerRun: number;
  nodeCpuPer1k: number;
  pgCpuPer1k: number;
  /** The load generator's own CPU (this process: autocannon, signing), on the same cores. */
  loadCpuPer1k: number;
  top: StatementCost[];
  /**
   * The server process's event loop during the load (its /metrics): delay p99 and maximum,
   * young collections a second and their mean pause, full collections.
   */
  loop?: {
    lagP99Ms: number;
    lagMaxMs: number;
    minorPerS: number;
    minorMeanMs: number;
    major: number;
  };
  /** BENCH_WAIT_EVENTS=1: the backends' wait events during the line (e2e-stats.ts). */
  waits?: { activeMean: number; events: [string, number][] };
};

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The HTTP step's target: answers every request with a small JSON body. */
export async function startTarget(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true,"id":42}');
    });
  });
  server.keepAliveTimeout = 60_000;
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function cli(target: Target, cmd: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/switchyard.js', ...cmd], {
      cwd: target.root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd.join(' ')} exited ${code}`)),
    );
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

async function gql<T>(url: string, token: string, query: string, variables = {}): Promise<T> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

export async function startServer(
  target: Target,
  layout: 'start' | 'split',
  targetPort: number,
): Promise<Server> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `sy-bench-e2e-${target.label}-`));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    SWITCHYARD_DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    EMBEDDED_PG_PORT: String(await freePort()),
    LOG_LEVEL: process.env.BENCH_SERVER_LOG ? 'debug' : 'warn',
    RATE_LIMIT_TENANT_PER_MINUTE: '100000000',
    RATE_LIMIT_PRINCIPAL_PER_MINUTE: '100000000',
    GATE_ALLOW_HTTP_HOSTS: `127.0.0.1:${targetPort}`,
    PYTHON_WARM_POOL_SIZE: '0',
    OTEL_SDK_DISABLED: 'true',
  };
  // The first CLI call creates the cluster (and stops its server): pg_stat_statements is
  // loaded from the next start on.
  const tenant = JSON.parse(
    await cli(
      target,
      ['tenant', 'create', '--name', 'Bench', '--owner-email', 'bench@example.test', '--json'],
      env,
    ),
  ) as { apiToken: string; tenantId: string };
  await appendFile(
    path.join(dataDir, 'pg', 'postgresql.auto.conf'),
    "\nshared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = 'all'\npg_stat_statements.track_planning = on\n" +
      // BENCH_AUTO_EXPLAIN=<ms>: the plans (with timings) of slower statements, in the server
      // log (the server's stdout at LOG_LEVEL=debug, BENCH_SERVER_LOG).
      (process.env.BENCH_AUTO_EXPLAIN
        ? `shared_preload_libraries = 'pg_stat_statements,auto_explain'\nauto_explain.log_min_duration = '${Number(process.env.BENCH_AUTO_EXPLAIN)}ms'\nauto_explain.log_analyze = on\nauto_explain.log_buffers = on\nauto_explain.log_nested_statements = on\n`
        : '') +
      // BENCH_PG_CONF="commit_delay = 50; …": more server settings, for both builds;
      // BENCH_THIS_PG_CONF: for this build's only (a setting measured against its baseline).
      [process.env.BENCH_PG_CONF, target.label === 'this' ? process.env.BENCH_THIS_PG_CONF : '']
        .flatMap((c) => (c ?? '').split(';'))
        .map((line) => line.trim())
        .filter(Boolean)
        .map((line) => `${line}\n`)
        .join(''),
  );
  const procs: ChildProcess[] = [];
  const spawnCmd = (cmd: string) => {
    // BENCH_CPU_PROF=<dir>: a V8 CPU profile of each server process, written when it stops.
    const prof = process.env.BENCH_CPU_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${target.label}-${cmd}`]
      : [];
    // BENCH_NODE_FLAGS="--perf-basic-prof …": more flags for the server processes' Node;
    // BENCH_THIS_NODE_FLAGS: for this build's only (a flag measured against its baseline).
    const flags = [
      process.env.BENCH_NODE_FLAGS,
      target.label === 'this' ? process.env.BENCH_THIS_NODE_FLAGS : undefined,
    ]
      .join(' ')
      .split(' ')
      .filter(Boolean);
    const child = spawn(process.execPath, [...prof, ...flags, 'bin/switchyard.js', cmd], {
      cwd: target.root,
      env: { ...process.env, ...env },
      stdio: [
        'ignore',
        process.env.BENCH_SERVER_LOG ? openSync(process.env.BENCH_SERVER_LOG, 'a') : 'ignore',
        'inherit',
      ],
    });
    procs.push(child);
    return child;
  };
  let owner: pg.Pool | undefined;
  try {
    spawnCmd(layout === 'start' ? 'start' : 'api');
    await waitReady(url);
    if (layout === 'split') spawnCmd('worker');
    const creds = JSON.parse(await readFile(path.join(dataDir, 'credentials.json'), 'utf8')) as {
      ownerPassword: string;
    };
    owner = new pg.Pool({
      connectionString: `postgres://postgres:${encodeURIComponent(creds.ownerPassword)}@127.0.0.1:${env.EMBEDDED_PG_PORT}/switchyard`,
      max: 2,
    });
    // The server stops before the pool notices (a stopping line, a crashed server): no crash.
    owner.on('error', () => {});
    await owner.query('create extension if not exists pg_stat_statements').catch(() => {});
    const hooks = await createWorkflows(url, tenant.apiToken, targetPort);
    return {
      target,
      layout,
      url,
      dataDir,
      procs,
      owner,
      postmaster: postmasterPidOf(dataDir),
      tenantId: tenant.tenantId,
      hooks,
    };
  } catch (err) {
    await owner?.end();
    for (const p of procs.reverse()) await stop(p);
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

export async function stopServer(s: Server): Promise<void> {
  await s.owner.end();
  // The worker before the API (whose process owns the embedded server in the split layout).
  for (const p of [...s.procs].reverse()) await stop(p);
  await rm(s.dataDir, { recursive: true, force: true });
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error('server did not become ready');
}

async function createWorkflows(
  url: string,
  token: string,
  targetPort: number,
): Promise<Record<WorkflowKind, Hook>> {
  const q = <T>(query: string, variables = {}) => gql<T>(url, token, query, variables);
  const app = await q<{ createApp: { id: string } }>(
    'mutation($i: AppInput!) { createApp(input: $i) { id } }',
    {
      i: {
        key: 'target',
        name: 'Local target',
        authKind: 'none',
        baseUrl: `http://127.0.0.1:${targetPort}`,
      },
    },
  );
  const action = async (key: string, kind: string, implementation: unknown) =>
    (
      await q<{ createAction: { id: string } }>(
        'mutation($i: ActionInput!) { createAction(input: $i) { id } }',
        { i: { appId: app.createApp.id, key, name: key, kind, implementation } },
      )
    ).createAction.id;
  const post = await action('post', 'http', {
    method: 'POST',
    path: '/items',
    body: { n: '{{ input.n }}' },
  });
  const code = await action('shape', 'javascript', {
    code: 'return { n: input.n, doubled: input.n * 2 };',
  });
  const workflow = async (name: string, steps: unknown[]): Promise<Hook> => {
    const wf = await q<{ createWorkflow: { id: string } }>(
      'mutation($n: String!) { createWorkflow(name: $n) { id } }',
      { n: name },
    );
    const v = await q<{ saveWorkflowVersion: { id: string } }>(
      'mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }',
      { w: wf.createWorkflow.id, d: { steps } },
    );
    const t = await q<{ createTrigger: { secret: string; trigger: { id: string } } }>(
      'mutation($w: ID!) { createTrigger(workflowId: $w, kind: webhook) { secret trigger { id } } }',
      { w: wf.createWorkflow.id },
    );
    return {
      path: `/hooks/${t.createTrigger.trigger.id}`,
      key: Buffer.from(t.createTrigger.secret.slice('whsec_'.length), 'base64'),
      workflowId: wf.createWorkflow.id,
      versionId: v.saveWorkflowVersion.id,
    };
  };
  const n = '{{ trigger.body.n }}';
  return {
    http: await workflow('http', [{ id: 'post', actionId: post, input: { n } }]),
    js: await workflow('js', [{ id: 'shape', actionId: code, input: { n } }]),
    chain: await workflow('chain', [
      { id: 'a', actionId: code, input: { n } },
      { id: 'b', actionId: post, input: { n: '{{ steps.a.output.doubled }}' } },
      { id: 'c', actionId: code, input: { n: '{{ steps.b.output.id }}' } },
    ]),
  };
}

let seq = 0;
function signedRequest(hook: Hook): autocannon.Request {
  return {
    method: 'POST',
    path: hook.path,
    setupRequest: (req) => {
      const id = `msg_${process.pid}_${++seq}`;
      const ts = Math.floor(Date.now() / 1000);
      const body = JSON.stringify({ n: seq });
      const sig = createHmac('sha256', hook.key).update(`${id}.${ts}.${body}`).digest('base64');
      return {
        ...req,
        body,
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(ts),
          'webhook-signature': `v1,${sig}`,
        },
      };
    },
  };
}

/** Runs of the workflow that have ended, and when the last one did. */
async function finished(s: Server, workflowId: string) {
  const r = await s.owner.query<{ n: number; total: number }>(
    `select count(*) filter (where status in ('succeeded', 'failed', 'dead', 'canceled'))::int as n,
            count(*)::int as total
       from workflow_runs where workflow_id = $1`,
    [workflowId],
  );
  return r.rows[0]!;
}

/**
 * Polls until every run of the workflow has ended; own queries are counted (commits). The poll
 * reads the queue's size (every unfinished run has a job), not the runs: counting the runs
 * table ten times a second cost the server under test a seventh of a core.
 */
async function waitDrained(
  s: Server,
  workflowId: string,
  expected: number,
  counter: { queries: number },
): Promise<boolean> {
  const deadline = performance.now() + DRAIN_TIMEOUT_S * 1000;
  while (await queueEmptied(s, deadline, counter)) {
    const f = await finished(s, workflowId);
    counter.queries++;
    if (f.n >= expected) return true;
    await sleep(100);
  }
  return false;
}

/** Polls the queue's size until it is empty (true) or the deadline passes (false). */
async function queueEmptied(
  s: Server,
  deadline: number,
  counter: { queries: number } = { queries: 0 },
): Promise<boolean> {
  while (performance.now() < deadline) {
    const q = await s.owner.query<{ n: number }>('select count(*)::int as n from jobs');
    counter.queries++;
    if (q.rows[0]!.n === 0) return true;
    await sleep(100);
  }
  return false;
}

/** When the workflow's last run ended (ms since the epoch, the database's clock). */
async function lastEnd(s: Server, workflowId: string): Promise<number> {
  const r = await s.owner.query<{ ms: number }>(
    `select extract(epoch from max(finished_at)) * 1000 as ms from workflow_runs
      where workflow_id = $1`,
    [workflowId],
  );
  return Number(r.rows[0]!.ms);
}

/**
 * A running server, as a user's is: a few seconds of unmeasured load on each workflow, the
 * queue drained, then long enough for the embedded PostgreSQL's autovacuum round (5 s) to have
 * analyzed the tables the load filled. Without it a fresh server's first line ran on plans
 * made while the tables were empty (bench/RESULTS.md, round two, change 2) and read 20–30 %
 * lower than the same line a minute later.
 */
export async function warmUp(s: Server): Promise<void> {
  if (WARMUP_S <= 0) return;
  for (const kind of ['http', 'js', 'chain'] as const) {
    await new Promise<void>((resolve, reject) => {
      autocannon(
        {
          url: s.url,
          connections: 20,
          duration: WARMUP_S,
          requests: [signedRequest(s.hooks[kind])],
        },
        (err) => (err ? reject(err as Error) : resolve()),
      );
    });
  }
  await queueEmptied(s, performance.now() + DRAIN_TIMEOUT_S * 1000);
  await sleep(6_000);
}

export async function loadLine(s: Server, kind: WorkflowKind, concurrency: number): Promise<Line> {
  const hook = s.hooks[kind];
  const nodePids = s.procs.map((p) => p.pid!);
  const before = await finished(s, hook.workflowId);
  const counter = { queries: 1 };
  await sleep(STATS_SETTLE_MS / 4);
  const c0 = await readDbCounters(s.owner);
  await resetStatements(s.owner);
  const loop0 = await readNodeLoop(s.url);
  const cpu0 = readCpu(nodePids, s.postmaster);
  const gen0 = process.cpuUsage();
  const latencies: number[] = [];
  let accepted = 0;
  const t0 = performance.now();
  const t0Wall = Date.now();
  const stopWaits = process.env.BENCH_WAIT_EVENTS ? sampleWaitEvents(s.owner) : null;
  let rssMb = 0;
  const rssTimer = setInterval(() => {
    rssMb = Math.max(rssMb, ...nodePids.map((p) => readRss(p).rss));
  }, 500);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: s.url,
        connections: concurrency,
        duration: DURATION_S,
        requests: [signedRequest(hook)],
      },
      (err, res) => (err ? reject(err as Error) : resolve(res)),
    );
    instance.on('response', (_c, status: number, _b, ms: number) => {
      latencies.push(ms);
      if (status === 202) accepted++;
    });
  });
  const tLoad = performance.now();
  const loadCpu = process.cpuUsage(gen0);
  const loop1 = await readNodeLoop(s.url);
  const drained = await waitDrained(s, hook.workflowId, before.n + accepted, counter);
  clearInterval(rssTimer);
  const cpu1 = readCpu(nodePids, s.postmaster);
  const waits = await stopWaits?.();
  // The last run's end as the database recorded it, not when the poll saw it.
  const tEnd = drained ? t0 + ((await lastEnd(s, hook.workflowId)) - t0Wall) : performance.now();
  counter.queries++;
  const top = await topStatements(s.owner, Number(process.env.BENCH_STATEMENTS ?? 8));
  const fkChecks = await foreignKeyChecks(s.owner);
  counter.queries++;
  await sleep(STATS_SETTLE_MS);
  const c1 = await readDbCounters(s.owner);
  // The read of the top statements, and the two reads of c0 after its commit count (tables, WAL).
  counter.queries += 3;
  const d = diffCounters(c0, c1, counter.queries);
  latencies.sort((a, b) => a - b);
  const runs = accepted;
  const writesTotal = Object.values(d.writes).reduce((a, b) => a + b, 0);
  const atLoadEnd = drained ? undefined : await finished(s, hook.workflowId);
  return {
    name: `${kind} · ${s.layout} · c${concurrency}${drained ? '' : ` (drain cut at ${DRAIN_TIMEOUT_S} s, ${(atLoadEnd?.n ?? 0) - before.n} done)`}`,
    target: s.target.label,
    runs,
    completedPerS: runs / ((tEnd - t0) / 1000),
    ingressPerS: accepted / ((tLoad - t0) / 1000),
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    non2xx: result.non2xx + result.errors + result.timeouts,
    drainS: (tEnd - tLoad) / 1000,
    drainPerS: 0,
    rssMb,
    commitsPerRun: d.commits / runs,
    writesPerRun: writesTotal / runs,
    writes: Object.fromEntries(Object.entries(d.writes).map(([k, v]) => [k, v / runs])),
    walRecordsPerRun: d.walRecords / runs,
    walKbPerRun: d.walBytes / 1024 / runs,
    fkChecksPerRun: fkChecks / runs,
    nodeCpuPer1k: ((cpu1.node - cpu0.node) / runs) * 1000,
    pgCpuPer1k: ((cpu1.pg - cpu0.pg) / runs) * 1000,
    loadCpuPer1k: ((loadCpu.user + loadCpu.system) / 1e6 / runs) * 1000,
    top,
    ...(loop0 && loop1 ? { loop: loopOf(loop0, loop1, (tLoad - t0) / 1000) } : {}),
    ...(waits ? { waits } : {}),
  };
}

function loopOf(a: NodeLoop, b: NodeLoop, seconds: number): NonNullable<Line['loop']> {
  const minors = b.minor.count - a.minor.count;
  return {
    lagP99Ms: b.lagP99Ms,
    lagMaxMs: b.lagMaxMs,
    minorPerS: minors / seconds,
    minorMeanMs: minors > 0 ? ((b.minor.seconds - a.minor.seconds) * 1000) / minors : 0,
    major: b.major.count - a.major.count,
  };
}

/** Start → first step start at a steady 200 runs/s (webhook to StepRun start, DB clock). */
async function steadyLine(s: Server): Promise<string> {
  const hook = s.hooks.http;
  const since = new Date();
  const r = await steadyLoad({
    url: `${s.url}${hook.path}`,
    ratePerSecond: 200,
    durationS: QUICK ? 4 : 10,
    method: 'POST',
    headers: {},
    body: '',
    // Each request signed at its own time: steadyLoad sends one body, so sign per process here.
    ...signedSteady(hook),
  });
  // Every run's first step has started (or a minute has passed): a worker that fell behind
  // shows in the figures instead of leaving its late runs out.
  for (let i = 0; i < 300; i++) {
    const q = await s.owner.query<{ waiting: number }>(
      `select count(*)::int as waiting from workflow_runs
        where workflow_id = $1 and created_at >= $2 and status = 'queued'`,
      [hook.workflowId, since],
    );
    if (q.rows[0]!.waiting === 0) break;
    await sleep(200);
  }
  const lat = await s.owner.query<{ ms: number }>(
    `select extract(epoch from (sr.started_at - r.created_at)) * 1000 as ms
       from workflow_runs r join step_runs sr on sr.run_id = r.id and sr.step_index = 0 and sr.attempt = 1
      where r.workflow_id = $1 and r.created_at >= $2 order by 1`,
    [hook.workflowId, since],
  );
  const ms = lat.rows.map((x) => Number(x.ms));
  return `| start → first step, steady 200 runs/s | ${s.target.label} | ${ms.length} | ${fmt(percentile(ms, 50))} / ${fmt(percentile(ms, 95))} / ${fmt(percentile(ms, 99))} ms | ingress p99 ${fmt(percentile(r.latencies, 99))} ms, non-2xx ${r.non2xx + r.errors} |`;
}

/** steadyLoad sends one fixed body: a fresh signature per request comes from its `sign` hook. */
function signedSteady(hook: Hook) {
  return {
    sign: () => {
      const id = `msg_${process.pid}_${++seq}`;
      const ts = Math.floor(Date.now() / 1000);
      const body = JSON.stringify({ n: seq });
      const sig = createHmac('sha256', hook.key).update(`${id}.${ts}.${body}`).digest('base64');
      return {
        body,
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(ts),
          'webhook-signature': `v1,${sig}`,
        },
      };
    },
  };
}

/**
 * The drain rate over a backlog: `n` runs of the HTTP workflow queued in one statement (as
 * startRun writes them), the time until the first 1,000 of them ended; the claim's plan.
 */
type BacklogDrain = { n: number; done: number; rate: number; queuedS: number; plan: string };

async function backlogDrain(s: Server, n: number): Promise<BacklogDrain> {
  const hook = s.hooks.http;
  // Due in DUE_IN_S: the tables are vacuumed and analysed and a checkpoint taken before the
  // worker sees the backlog, as on a server that has been running (autovacuum): the measure
  // is the steady cost of a deep queue, not the one-off aftermath of inserting it.
  const DUE_IN_S = n >= 10_000 ? 40 : 10;
  const since = (await s.owner.query<{ now: Date }>('select now()')).rows[0]!.now;
  const dueAt = new Date(since.getTime() + DUE_IN_S * 1000);
  const t0 = performance.now();
  await s.owner.query(
    `with r as (
       insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, input)
       select $1, $2, $3, jsonb_build_object('headers', '{}'::jsonb, 'body', jsonb_build_object('n', g))
         from generate_series(1, $4) g
       returning tenant_id, id)
     insert into jobs (tenant_id, run_id, step_index, run_at) select tenant_id, id, 0, $5 from r`,
    [s.tenantId, hook.workflowId, hook.versionId, n, dueAt],
  );
  const tQueued = performance.now();
  await s.owner.query('vacuum (analyze) jobs');
  await s.owner.query('vacuum (analyze) workflow_runs');
  await s.owner.query('checkpoint');
  const ready = performance.now();
  if (Date.now() > dueAt.getTime())
    process.stdout.write('backlog: vacuum took longer than the delay\n');
  await sleep(Math.max(0, dueAt.getTime() - Date.now() - 200));
  await resetStatements(s.owner);
  const want = Math.min(n, 1000);
  let done = 0;
  let lastEnd: Date | null = null;
  let firstStart: Date | null = null;
  while (performance.now() - ready < DRAIN_TIMEOUT_S * 1000) {
    // Through the (tenant, status, created_at) index: the runs that ended, not the backlog.
    const r = await s.owner.query<{ n: number; last: Date | null; first: Date | null }>(
      `select count(*)::int as n, max(finished_at) as last, min(started_at) as first
         from workflow_runs
        where tenant_id = $1 and status = 'succeeded' and created_at >= $2 and workflow_id = $3`,
      [s.tenantId, since, hook.workflowId],
    );
    done = r.rows[0]!.n;
    lastEnd = r.rows[0]!.last;
    firstStart = r.rows[0]!.first;
    if (done >= want) break;
    await sleep(200);
  }
  // From the first run's start to the last of the first `want` runs' ends (DB clock): not from
  // the due time, which would add the worker's wake-up (up to a poll interval, 1 s) to a
  // window of 1–2 s and made the two backlogs differ by ±30 % from run to run.
  const from = firstStart ?? dueAt;
  const rate = lastEnd ? done / ((lastEnd.getTime() - from.getTime()) / 1000) : 0;
  const top = await topStatements(s.owner, 3);
  if (process.env.BENCH_PLANS === '1')
    for (const [name, text] of await hotStatementTexts())
      try {
        const plan = await s.owner.query<{ 'QUERY PLAN': string }>(
          `explain (generic_plan) ${text}`,
        );
        process.stdout.write(
          `${name}:\n${plan.rows
            .map((r) => r['QUERY PLAN'])
            .filter((l) => /Scan|Join|Loop/.test(l))
            .join('\n')}\n`,
        );
      } catch (err) {
        process.stdout.write(`${name}: ${(err as Error).message}\n`);
      }
  process.stdout.write(
    `backlog ${n}, ${s.target.label}: ${top.map((t) => `${t.totalMs.toFixed(0)} ms / ${t.calls} calls: ${t.query.slice(0, 70)}`).join(' | ')}\n`,
  );
  // The rest of the backlog is dropped: the next line (the other build) runs alone.
  await s.owner.query(`delete from jobs where tenant_id = $1 and status = 'pending'`, [s.tenantId]);
  return { n, done, rate, queuedS: (tQueued - t0) / 1000, plan: await claimPlan(s) };
}

/**
 * The drain rate over a backlog of `n`, BACKLOG_REPEAT times (a fresh backlog each time): its
 * window is about a second of work, so one measurement moves by ±15 %; the median is the
 * figure, every measurement is listed.
 */
function backlogRow(s: Server, drains: BacklogDrain[]): string {
  const rates = drains.map((d) => d.rate);
  const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)]!;
  const d = drains[0]!;
  const each = rates.length > 1 ? ` (median of ${rates.map((r) => fmt(r)).join(', ')})` : '';
  return `| drain over a backlog of ${d.n.toLocaleString('en')} queued runs (first ${Math.min(d.n, 1000)}) | ${s.target.label} | ${drains.reduce((a, x) => a + x.done, 0)} | ${fmt(median)} runs/s${each} | queued in ${fmt(d.queuedS)} s, then vacuum (analyze) and a checkpoint before it is due; claim plan: ${d.plan} |`;
}

/** The text of the worker's hot statements, as sent (captured, not executed). */
async function hotStatementTexts(): Promise<[string, string][]> {
  const out: [string, string][] = [];
  const capture = (name: string) =>
    ({
      query: (q: { text: string }) => {
        out.push([name, q.text]);
        return Promise.resolve({ rows: [] });
      },
    }) as unknown as Queryable;
  const { recordStepTransitions } = await import('../src/db/queries/step-transitions.ts');
  const { startStepAttempts } = await import('../src/db/queries/step-runs.ts');
  const tenantId = '00000000-0000-4000-8000-000000000000' as never;
  const runId = '00000000-0000-4000-8000-000000000001' as never;
  await recordStepTransitions(capture('transitions'), {
    tenantId,
    workerId: 'w',
    now: new Date(),
    leaseUntil: new Date(),
    relaxDurability: false,
    items: [
      {
        jobId: 1,
        stepIndex: 0,
        attempt: 1,
        runId,
        job: { op: 'delete' },
        stepRun: null,
        finishRun: null,
        deadLetter: null,
        start: null,
        notify: false,
      },
    ],
  });
  await startStepAttempts(capture('start attempts'), {
    tenantId,
    workerId: 'w',
    now: new Date(),
    items: [{ jobId: 1, runId, stepId: 's', stepIndex: 0, attempt: 1 }],
  });
  return out;
}

/**
 * The claim statement's generic plan (EXPLAIN (GENERIC_PLAN), PG 16+): the statement text
 * is taken from db/queries/jobs.ts as the worker sends it (captured, not executed).
 */
async function claimPlan(s: Server): Promise<string> {
  try {
    let text = '';
    const capture = {
      query: (q: { text: string }) => {
        text = q.text;
        return Promise.resolve({ rows: [] });
      },
    } as unknown as Queryable;
    await claimJobs(capture, {
      now: new Date(),
      workerId: 'plan',
      limit: 16,
      leaseMs: 30_000,
      tenantMaxConcurrency: 50,
      relaxDurability: true,
    });
    const plan = await s.owner.query<{ 'QUERY PLAN': string }>(`explain (generic_plan) ${text}`);
    const lines = plan.rows.map((r) => r['QUERY PLAN']);
    const scans = lines
      .filter((l) => /Scan/.test(l) && /\bjobs\b/.test(l))
      .map((l) =>
        l
          .trim()
          .replace(/^->\s*/, '')
          .replace(/\s+\(cost.*$/, ''),
      );
    return [...new Set(scans)].join('; ') || 'no scan of jobs';
  } catch (err) {
    return `no plan (${(err as Error).message.slice(0, 60)})`;
  }
}

export const fmt = (n: number) =>
  Number.isFinite(n) ? n.toFixed(Math.abs(n) >= 100 ? 0 : 1) : '–';

function tableOf(lines: Line[]): string {
  const head =
    '| line | build | runs | completed runs/s | ingress 202/s | ingress p50 / p95 / p99 ms | drain s | Node RSS MB | commits/run | row writes/run | CPU s per 1k runs Node / PG / load |\n|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|';
  const rows = lines.map(
    (l) =>
      `| ${l.name} | ${l.target} | ${l.runs} | ${fmt(l.completedPerS)} | ${fmt(l.ingressPerS)} | ${fmt(l.p50)} / ${fmt(l.p95)} / ${fmt(l.p99)}${l.non2xx ? ` (${l.non2xx} non-2xx)` : ''} | ${fmt(l.drainS)} | ${fmt(l.rssMb)} | ${l.commitsPerRun.toFixed(2)} | ${l.writesPerRun.toFixed(1)} | ${l.nodeCpuPer1k.toFixed(2)} / ${l.pgCpuPer1k.toFixed(2)} / ${l.loadCpuPer1k.toFixed(2)} |`,
  );
  return [head, ...rows].join('\n');
}

function writesOf(lines: Line[]): string {
  return lines
    .map(
      (l) =>
        `- ${l.name}, ${l.target}: ${Object.entries(l.writes)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(
            ', ',
          )}; WAL ${l.walRecordsPerRun.toFixed(1)} records, ${l.walKbPerRun.toFixed(1)} kB; foreign-key checks ${l.fkChecksPerRun.toFixed(1)}`,
    )
    .join('\n');
}

function loopsOf(lines: Line[]): string {
  return lines
    .filter((l) => l.loop)
    .map(
      (l) =>
        `- ${l.name}, ${l.target}: delay p99 ${fmt(l.loop!.lagP99Ms)} ms, max ${fmt(l.loop!.lagMaxMs)} ms; young collections ${l.loop!.minorPerS.toFixed(1)}/s of ${l.loop!.minorMeanMs.toFixed(1)} ms on average; full collections ${l.loop!.major}`,
    )
    .join('\n');
}

function waitsOf(lines: Line[]): string {
  return lines
    .filter((l) => l.waits)
    .map(
      (l) =>
        `- ${l.name}, ${l.target}: ${l.waits!.activeMean.toFixed(1)} backends active on average; ${l
          .waits!.events.slice(0, 8)
          .map(([w, share]) => `${w} ${(share * 100).toFixed(0)} %`)
          .join(', ')}`,
    )
    .join('\n');
}

function statementsOf(lines: Line[]): string {
  return lines
    .filter((l) => l.top.length > 0)
    .map(
      (l) =>
        `- ${l.name}, ${l.target}:\n${l.top
          .slice(0, Number(process.env.BENCH_STATEMENTS ?? 5))
          .map(
            (t) =>
              `  - ${fmt(t.totalMs)} ms total, ${(t.calls / l.runs).toFixed(2)} calls per run, ${t.meanMs.toFixed(3)} ms mean, ${t.blocksPerCall.toFixed(0)} blocks a call${t.plans > 0 ? `, planned ${t.plans} times (${fmt(t.planMs)} ms)` : ''}: \`${t.query.replace(/`/g, "'")}\``,
          )
          .join('\n')}`,
    )
    .join('\n');
}

/** Measures `s` alone: the other servers (and their PostgreSQL) stopped meanwhile. */
async function measured<T>(servers: Server[], s: Server, line: () => Promise<T>): Promise<T> {
  const others = servers
    .filter((o) => o !== s)
    .flatMap((o) => [...o.procs.map((p) => p.pid!), o.postmaster]);
  return (await alone(others, line, PAUSE && others.length > 0))[0];
}

async function main(): Promise<void> {
  const targets: Target[] = [];
  if (process.env.BENCH_BASELINE)
    targets.push({ label: 'baseline', root: path.resolve(process.env.BENCH_BASELINE) });
  targets.push({ label: 'this', root });
  const load0 = os.loadavg();
  const tgt = await startTarget();
  const lines: Line[] = [];
  const extra: string[] = [];
  const servers: Server[] = [];
  try {
    for (const t of targets) servers.push(await startServer(t, 'start', tgt.port));
    for (const s of servers) await warmUp(s);
    for (const kind of ['http', 'js', 'chain'] as const) {
      if (!LINES.includes(kind)) continue;
      for (const c of CONCURRENCY)
        for (const s of servers) {
          const line = await measured(servers, s, () => loadLine(s, kind, c));
          lines.push(line);
          process.stdout.write(`${tableOf([line]).split('\n')[2]}\n`);
        }
    }
    if (LINES.includes('steady'))
      for (const s of servers) extra.push(await measured(servers, s, () => steadyLine(s)));
    if (LINES.includes('backlog')) {
      // Sizes and builds interleaved in each round, so that drift of the machine falls on all.
      const drains = new Map<string, BacklogDrain[]>();
      for (let round = 0; round < BACKLOG_REPEAT; round++)
        for (const n of [1000, BACKLOG_BIG])
          for (const s of servers) {
            const key = `${n}:${s.target.label}`;
            const d = await measured(servers, s, () => backlogDrain(s, n));
            drains.set(key, [...(drains.get(key) ?? []), d]);
            process.stdout.write(`backlog ${n}, ${s.target.label}: ${fmt(d.rate)} runs/s\n`);
          }
      for (const n of [1000, BACKLOG_BIG])
        for (const s of servers) extra.push(backlogRow(s, drains.get(`${n}:${s.target.label}`)!));
    }
    for (const s of servers.splice(0)) await stopServer(s);
    if (LINES.includes('split')) {
      for (const t of targets) servers.push(await startServer(t, 'split', tgt.port));
      for (const s of servers) await warmUp(s);
      for (const s of servers) {
        const line = await measured(servers, s, () => loadLine(s, 'http', 50));
        lines.push(line);
        process.stdout.write(`${tableOf([line]).split('\n')[2]}\n`);
      }
    }
  } finally {
    for (const s of servers) await stopServer(s).catch(() => {});
    await tgt.close();
  }
  const load1 = os.loadavg();
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 16)} UTC, load average ${load0.map((x) => x.toFixed(2)).join(' ')} before / ${load1.map((x) => x.toFixed(2)).join(' ')} after`;
  const section = [
    '## End to end',
    '',
    `Machine: ${machine}. \`npm run bench:e2e${QUICK ? ' -- --quick' : ''}\`: signed webhooks for ${DURATION_S} s per line at fixed concurrency (autocannon), runs counted until all ended; the local HTTP target, the load generator, Node and PostgreSQL on the same cores, over 127.0.0.1.${targets.length > 1 ? ` "baseline" is ${targets[0]!.root}, measured right before "this" on each line.` : ''}`,
    '',
    tableOf(lines),
    '',
    '| measure | build | runs | result | notes |\n|---|---|---:|---|---|',
    ...extra,
    '',
    'Row writes per run, by table; the write-ahead log (the whole server) and foreign-key checks per run:',
    '',
    writesOf(lines),
    '',
    'Most expensive statements per line (pg_stat_statements, total execution time):',
    '',
    statementsOf(lines),
    '',
    ...(lines.some((l) => l.loop)
      ? [
          "The server process's event loop while the load ran (its /metrics: prom-client's delay, sampled every 10 ms, which the figures include, and V8's collections):",
          '',
          loopsOf(lines),
          '',
        ]
      : []),
    ...(lines.some((l) => l.waits)
      ? [
          'What the active backends waited on (pg_stat_activity, sampled every 20 ms):',
          '',
          waitsOf(lines),
          '',
        ]
      : []),
  ].join('\n');
  process.stdout.write(`\n${section}\n`);
  if (!args.includes('--no-write')) await writeSection(section);
}

async function writeSection(section: string): Promise<void> {
  const file = path.join(root, 'bench/RESULTS.md');
  const current = await readFile(file, 'utf8').catch(() => '# Benchmark results\n');
  const start = current.indexOf('## End to end\n');
  const next = start === -1 ? -1 : current.indexOf('\n## ', start + 1);
  const updated =
    start === -1
      ? `${current.trimEnd()}\n\n${section}`
      : `${current.slice(0, start)}${section}${next === -1 ? '' : current.slice(next + 1)}`;
  await writeFile(file, updated);
}

if (import.meta.main) await main();
