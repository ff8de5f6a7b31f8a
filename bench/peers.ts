/**
 * Switchyard beside n8n, same machine, same run, same load: `npm run bench:peers`.
 *
 * n8n (pinned: N8N_VERSION) is installed once with `npm install --prefix` into a cache
 * directory outside the project (BENCH_PEERS_CACHE, default ~/.cache/switchyard-bench/
 * n8n-<version>; ~1.4 GB), never into the project's dependencies. It runs from a temporary
 * user folder with its telemetry, version checks, templates and public API off, listening on
 * 127.0.0.1 only. The workflow shape is the same on both sides: a webhook, then one step
 * that returns two fields (n8n: Webhook → Edit Fields (Set), answering after the last node,
 * so an answer is a finished execution; Switchyard: a signed webhook → a JavaScript step,
 * runs counted until all ended, bench/e2e.ts). Also, with the same step on both sides (see
 * n8nWorkflows): the JavaScript step against n8n's Code node, the HTTP step against its HTTP
 * Request node. Load: autocannon at concurrency 1, 10 and 50 for BENCH_DURATION_S per line
 * (`--quick`: 4 s). Writes the "Peers" section of RESULTS.md.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { freePort } from '../test/support/free-port.ts';
import { alone, readRss } from './e2e-stats.ts';
import { KEPT_BELOW, writeResultsSection } from './kit.ts';
import { fmt, loadLine, startServer, startTarget, stopServer, warmUp, type Line } from './e2e.ts';

const N8N_VERSION = '2.41.1';
const root = path.resolve(import.meta.dirname, '..');
const QUICK = process.argv.includes('--quick');
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? (QUICK ? 4 : 20));
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,10,50').split(',').map(Number);
const cacheDir =
  process.env.BENCH_PEERS_CACHE ??
  path.join(os.homedir(), '.cache', 'switchyard-bench', `n8n-${N8N_VERSION}`);
const n8nBin = path.join(cacheDir, 'node_modules', 'n8n', 'bin', 'n8n');
/**
 * Each product's lines run with the other one stopped (SIGSTOP, then SIGCONT), so that each
 * has the two cores to itself: a server between lines is not idle (n8n finishing and saving
 * executions, PostgreSQL's autovacuum after a line). BENCH_PEERS_PAUSE=0: both keep running;
 * the table shows what the other product used during each line either way.
 */
const PAUSE = process.env.BENCH_PEERS_PAUSE !== '0';

type PeerShape = 'set' | 'code' | 'http';
const PEER_PATHS: Record<PeerShape, string> = {
  set: 'bench',
  code: 'bench-code',
  http: 'bench-http',
};
/** Switchyard's line for each of n8n's shapes (bench/e2e.ts). */
const OUR_LINE: Record<PeerShape, 'js' | 'http'> = { set: 'js', code: 'js', http: 'http' };
/** BENCH_PEERS_SHAPES=set,code,http: n8n's shapes to measure; the first table is `set`'s. */
const SHAPES = (process.env.BENCH_PEERS_SHAPES ?? 'set,code,http')
  .split(',')
  .filter((x): x is PeerShape => x in PEER_PATHS);

/** What keeps n8n to itself: no telemetry, no calls home, loopback only. */
function n8nEnv(userFolder: string, port: number): Record<string, string> {
  return {
    N8N_USER_FOLDER: userFolder,
    N8N_PORT: String(port),
    N8N_LISTEN_ADDRESS: '127.0.0.1',
    N8N_HOST: '127.0.0.1',
    N8N_PROTOCOL: 'http',
    WEBHOOK_URL: `http://127.0.0.1:${port}/`,
    N8N_DIAGNOSTICS_ENABLED: 'false',
    N8N_DIAGNOSTICS_CONFIG_FRONTEND: '',
    N8N_DIAGNOSTICS_CONFIG_BACKEND: '',
    N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
    N8N_TEMPLATES_ENABLED: 'false',
    N8N_PERSONALIZATION_ENABLED: 'false',
    N8N_HIRING_BANNER_ENABLED: 'false',
    N8N_PUBLIC_API_DISABLED: 'true',
    N8N_SECURE_COOKIE: 'false',
    N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
    N8N_LOG_LEVEL: 'warn',
    N8N_RUNNERS_ENABLED: 'false',
    EXTERNAL_FRONTEND_HOOKS_URLS: '',
    DB_TYPE: 'sqlite',
    NODE_ENV: 'production',
  };
}

async function installN8n(): Promise<void> {
  if (existsSync(n8nBin)) return;
  await mkdir(cacheDir, { recursive: true });
  if (!existsSync(path.join(cacheDir, 'package.json')))
    await writeFile(
      path.join(cacheDir, 'package.json'),
      '{"name":"n8n-bench-host","private":true}\n',
    );
  process.stdout.write(`installing n8n@${N8N_VERSION} into ${cacheDir} (once; ~1.4 GB)…\n`);
  const npm = (args: string[]) =>
    promisify(execFile)('npm', [...args, '--prefix', cacheDir, '--no-audit', '--no-fund'], {
      env: { ...process.env, N8N_DIAGNOSTICS_ENABLED: 'false' },
      maxBuffer: 64 * 2 ** 20,
    });
  // Without install scripts: some optional native modules (Kafka's librdkafka) download their
  // sources from GitHub at install time. The one native module the benchmark needs, SQLite,
  // is then built from its bundled sources (node-gyp; npm_config_nodedir for the headers).
  await npm(['install', '--ignore-scripts', `n8n@${N8N_VERSION}`]);
  await npm(['rebuild', 'sqlite3', '--build-from-source']);
}

/** The webhook node every n8n workflow of the benchmark starts with, answering after its last node. */
function n8nWebhook(path: string, n: number) {
  return {
    id: `a0d5d7b0-0000-4000-8000-00000000000${n}`,
    name: 'Webhook',
    type: 'n8n-nodes-base.webhook',
    typeVersion: 2,
    position: [0, 0],
    webhookId: `a0d5d7b0-0000-4000-8000-0000000000a${n}`,
    parameters: { httpMethod: 'POST', path, responseMode: 'lastNode', options: {} },
  };
}

/**
 * n8n's side of each shape. `set`: Edit Fields (Set), n8n's cheapest node, against
 * Switchyard's JavaScript step — the comparison of the first table. `code`: a Code node
 * running the same JavaScript as Switchyard's step; `http`: an HTTP Request node posting to
 * the same local target as Switchyard's HTTP step — the same shape on both sides.
 */
function n8nWorkflows(targetPort: number) {
  const workflow = (shape: PeerShape, n: number, node: Record<string, unknown>) => ({
    id: `benchWebhook${shape[0]!.toUpperCase()}${shape.slice(1)}01`,
    name: `bench webhook → ${shape}`,
    active: true,
    settings: { executionOrder: 'v1' },
    connections: { Webhook: { main: [[{ node: 'Step', type: 'main', index: 0 }]] } },
    nodes: [
      n8nWebhook(PEER_PATHS[shape], n),
      { id: `a0d5d7b0-0000-4000-8000-00000000010${n}`, name: 'Step', position: [200, 0], ...node },
    ],
  });
  return [
    workflow('set', 1, {
      type: 'n8n-nodes-base.set',
      typeVersion: 3.4,
      parameters: {
        assignments: {
          assignments: [
            { id: 'f1', name: 'n', value: '={{ $json.body.n }}', type: 'number' },
            { id: 'f2', name: 'doubled', value: '={{ $json.body.n * 2 }}', type: 'number' },
          ],
        },
        options: {},
      },
    }),
    workflow('code', 2, {
      type: 'n8n-nodes-base.code',
      typeVersion: 2,
      parameters: {
        jsCode:
          'const input = { n: $input.first().json.body.n };\nreturn [{ json: { n: input.n, doubled: input.n * 2 } }];',
      },
    }),
    workflow('http', 3, {
      type: 'n8n-nodes-base.httpRequest',
      typeVersion: 4.2,
      parameters: {
        method: 'POST',
        url: `http://127.0.0.1:${targetPort}/items`,
        sendBody: true,
        specifyBody: 'json',
        jsonBody: '={{ JSON.stringify({ n: $json.body.n }) }}',
        options: {},
      },
    }),
  ];
}

function n8nCli(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [n8nBin, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`n8n ${args.join(' ')}: ${stderr || err.message}`))
          : resolve(stdout),
    );
  });
}

async function startN8n(
  targetPort: number,
): Promise<{ child: ChildProcess; url: string; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sy-bench-n8n-'));
  const port = await freePort();
  const env = n8nEnv(dir, port);
  const workflows = n8nWorkflows(targetPort).filter((w) =>
    SHAPES.some((shape) => w.name.endsWith(shape)),
  );
  await mkdir(path.join(dir, 'workflows'));
  for (const w of workflows)
    await writeFile(path.join(dir, 'workflows', `${w.id}.json`), JSON.stringify(w));
  await n8nCli(['import:workflow', '--separate', `--input=${path.join(dir, 'workflows')}`], env);
  // n8n 2.x publishes (activates) a workflow with publish:workflow; 1.x with update:workflow.
  for (const w of workflows)
    await n8nCli(['publish:workflow', `--id=${w.id}`], env).catch(() =>
      n8nCli(['update:workflow', `--id=${w.id}`, '--active=true'], env),
    );
  const child = spawn(process.execPath, [n8nBin, 'start'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 1200; i++) {
    try {
      const r = await fetch(`${url}/webhook/${PEER_PATHS[SHAPES[0]!]}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"n":1}',
      });
      if (r.status === 200) return { child, url, dir };
    } catch {
      // not yet
    }
    if (child.exitCode !== null) throw new Error('n8n exited during start');
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGKILL');
  throw new Error('n8n did not answer its webhook');
}

type PeerLine = {
  concurrency: number;
  perS: number;
  p50: number;
  p99: number;
  rss: number;
  errors: number;
};

async function loadN8n(
  url: string,
  pid: number,
  concurrency: number,
  shape: PeerShape,
): Promise<PeerLine> {
  const latencies: number[] = [];
  let ok = 0;
  let rss = 0;
  const timer = setInterval(() => (rss = Math.max(rss, readRss(pid).rss)), 500);
  const t0 = performance.now();
  let n = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const inst = autocannon(
      {
        url: `${url}/webhook/${PEER_PATHS[shape]}`,
        method: 'POST',
        connections: concurrency,
        duration: DURATION_S,
        timeout: 60,
        headers: { 'content-type': 'application/json' },
        requests: [{ setupRequest: (r) => ({ ...r, body: JSON.stringify({ n: ++n }) }) }],
      },
      (err, res) => (err ? reject(err as Error) : resolve(res)),
    );
    inst.on('response', (_c, status: number, _b, ms: number) => {
      latencies.push(ms);
      if (status === 200) ok++;
    });
  });
  clearInterval(timer);
  const s = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    concurrency,
    perS: ok / s,
    p50: pct(0.5),
    p99: pct(0.99),
    rss,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function main(): Promise<void> {
  await installN8n();
  const version = (await n8nCli(['--version'], {}).catch(() => N8N_VERSION)).trim();
  const load0 = os.loadavg();
  const target = await startTarget();
  /** One row per shape and concurrency; Switchyard's line is measured once per concurrency and kind. */
  const rows: { shape: PeerShape; ours: Line; theirs: PeerLine; idle: [number, number] }[] = [];
  let n8n: Awaited<ReturnType<typeof startN8n>> | undefined;
  const sy = await startServer({ label: 'this', root }, 'start', target.port);
  await warmUp(sy);
  try {
    n8n = await startN8n(target.port);
    const syPids = [...sy.procs.map((p) => p.pid!), sy.postmaster];
    const n8nPid = n8n.child.pid!;
    for (const c of CONCURRENCY) {
      const ours = new Map<'js' | 'http', [Line, number]>();
      for (const shape of SHAPES) {
        const kind = OUR_LINE[shape];
        if (!ours.has(kind))
          ours.set(kind, await alone([n8nPid], () => loadLine(sy, kind, c), PAUSE));
        const [o, n8nIdle] = ours.get(kind)!;
        const [t, syIdle] = await alone(syPids, () => loadN8n(n8n!.url, n8nPid, c, shape), PAUSE);
        rows.push({ shape, ours: o, theirs: t, idle: [n8nIdle, syIdle] });
        process.stdout.write(
          `c${c} ${shape}: switchyard ${fmt(o.completedPerS)} runs/s (${kind}), n8n ${fmt(t.perS)} executions/s\n`,
        );
      }
    }
  } finally {
    await stopServer(sy);
    if (n8n) {
      const exited = new Promise((r) => n8n!.child.once('exit', r));
      n8n.child.kill('SIGTERM');
      const t = setTimeout(() => n8n!.child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
      await rm(n8n.dir, { recursive: true, force: true });
    }
    await target.close();
  }
  const load1 = os.loadavg();
  const first = rows.filter((r) => r.shape === SHAPES[0]);
  const table = first.map(({ ours: o, theirs: t, idle: [n8nIdle, syIdle] }) => {
    return `| ${t.concurrency} | ${fmt(o.completedPerS)} | ${fmt(o.p50)} / ${fmt(o.p99)} | ${fmt(o.rssMb)} | ${fmt(t.perS)} | ${fmt(t.p50)} / ${fmt(t.p99)}${t.errors ? ` (${t.errors} errors)` : ''} | ${fmt(t.rss)} | ${n8nIdle.toFixed(1)} / ${syIdle.toFixed(1)} | ${ratio(o.completedPerS, t)} |`;
  });
  const SHAPE_WORDS: Record<PeerShape, string> = {
    set: 'JavaScript step | Edit Fields (Set)',
    code: 'JavaScript step | Code node, the same JavaScript',
    http: 'HTTP step (POST to a local server) | HTTP Request node, the same request',
  };
  const byShape = SHAPES.map((shape) => {
    const mine = rows.filter((r) => r.shape === shape);
    return `| ${SHAPE_WORDS[shape]} | ${mine.map((r) => `${fmt(r.ours.completedPerS)} / ${fmt(r.theirs.perS)}${r.theirs.errors ? ` (${r.theirs.errors} errors)` : ''} = ${ratio(r.ours.completedPerS, r.theirs)}`).join(' | ')} |`;
  });
  const body = [
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${new Date().toISOString().slice(0, 16)} UTC, load average ${load0.map((x) => x.toFixed(2)).join(' ')} before / ${load1.map((x) => x.toFixed(2)).join(' ')} after. \`npm run bench:peers${QUICK ? ' -- --quick' : ''}\`, ${DURATION_S} s per line, both measured in this run, one after the other at each concurrency. Switchyard: \`switchyard start\` (embedded PostgreSQL), signed webhook → JavaScript step returning two fields, completed runs/s counted until every run ended, latency = the webhook's 202. n8n ${version} (installed in ${cacheDir}, SQLite, defaults otherwise; telemetry off, 127.0.0.1): Webhook → Edit Fields (Set), answering after the last node, so an answer is a finished execution and latency is the whole execution. ${PAUSE ? 'Each line ran with the other product stopped (SIGSTOP … SIGCONT)' : 'Both products kept running during every line (BENCH_PEERS_PAUSE=0)'}; the "idle CPU" column shows the CPU seconds the other product used during the line (n8n during Switchyard's / Switchyard during n8n's).`,
    '',
    '| concurrency | Switchyard runs/s | Switchyard p50 / p99 ms | Switchyard RSS MB | n8n executions/s | n8n p50 / p99 ms | n8n RSS MB | idle CPU s | ratio |',
    '|---:|---:|---|---:|---:|---|---:|---:|---:|',
    ...table,
    '',
    ...(SHAPES.length > 1
      ? [
          `Each shape, Switchyard runs/s / n8n executions/s (same run; Switchyard's line measured once per concurrency and kind, n8n's once per shape). The first row is the table above; the others put the same step on both sides.`,
          '',
          `| Switchyard | n8n | ${CONCURRENCY.map((c) => `c${c}`).join(' | ')} |`,
          `|---|---|${CONCURRENCY.map(() => '---').join('|')}|`,
          ...byShape,
          '',
        ]
      : []),
    KEPT_BELOW,
  ].join('\n');
  process.stdout.write(`\n## Peers\n\n${body}\n`);
  if (process.argv.includes('--no-write')) return;
  // The history of runs and the notes written below the tables stay.
  await writeResultsSection('Peers', body);
}
/**
 * Switchyard's rate over n8n's; a line where n8n answered requests with errors is not a
 * comparison (n8n was failing, not working slowly), and says so beside its ratio.
 */
function ratio(ours: number, theirs: { perS: number; errors: number }): string {
  const r = `**${fmt(ours / theirs.perS)}×**`;
  return theirs.errors > 0 ? `${r} (n8n failing: not a comparison)` : r;
}

await main();
