/**
 * API benchmark: webhook ingress (signed, committed, 202) at concurrency 1, 10 and 50, and
 * GraphQL reads (a run with its steps) and writes (triggerWorkflow) at a steady 200 requests/s.
 * Baselines measured in the same run: GET /livez, the HTTP floor of this machine (Fastify, no
 * database), and ingress with a transaction per delivery (ENGINE_START_BATCH_MAX=1) against the
 * default batched run intake, on the same data.
 *
 * `npm run bench:api` — starts `switchyard api` on its own embedded PostgreSQL (normal
 * durability) in a temporary directory, drives it from this process over 127.0.0.1 (autocannon
 * for the closed-loop lines, steady-load.ts for the steady rates), writes the "API" section of bench/RESULTS.md and stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../test/support/free-port.ts';
import { steadyLoad } from './steady-load.ts';

const root = path.resolve(import.meta.dirname, '..');
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);

type Row = {
  name: string;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  non2xx: number;
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function load(name: string, opts: autocannon.Options): Promise<Row> {
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ ...opts, duration: DURATION_S }, (err, res) =>
      err ? reject(err as Error) : resolve(res),
    );
    instance.on('response', (_client, _status, _bytes, responseTime: number) =>
      latencies.push(responseTime),
    );
  });
  latencies.sort((a, b) => a - b);
  return {
    name,
    rps: result.requests.total / DURATION_S,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

function run(cmd: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cmd, {
      cwd: root,
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

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become ready');
}

async function gql<T>(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sy-bench-api-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    SWITCHYARD_DATA_DIR: dataDir,
    PORT: String(port),
    EMBEDDED_PG_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    RATE_LIMIT_TENANT_PER_MINUTE: '100000000',
    RATE_LIMIT_PRINCIPAL_PER_MINUTE: '100000000',
    // No worker drains the queue during the measurement: backpressure must not refuse the load.
    QUEUE_MAX_DEPTH: '100000000',
    QUEUE_MAX_DEPTH_PER_TENANT: '100000000',
    DATABASE_POOL_MAX: '20',
  };
  // The API process alone is measured; a worker process runs only the sample run (below).
  // A: every delivery in its own transaction (ENGINE_START_BATCH_MAX=1), the baseline of B:
  // the default, where deliveries that arrive together commit together.
  let server = await startServer(url, { ...env, ENGINE_START_BATCH_MAX: '1' });
  try {
    const tenant = JSON.parse(
      await run(
        [
          'bin/switchyard.js',
          'tenant',
          'create',
          '--name',
          'Bench',
          '--owner-email',
          'bench@example.test',
          '--json',
        ],
        env,
      ),
    ) as {
      apiToken: string;
    };
    const token = tenant.apiToken;
    const apps = await gql<{
      apps: { nodes: Array<{ key: string; actions: Array<{ id: string; key: string }> }> };
    }>(url, token, '{ apps(first: 100) { nodes { key actions { id key } } } }');
    const js = apps.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!;
    const wf = await gql<{ createWorkflow: { id: string } }>(
      url,
      token,
      'mutation { createWorkflow(name: "bench") { id } }',
    );
    const workflowId = wf.createWorkflow.id;
    await gql(
      url,
      token,
      'mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }',
      {
        w: workflowId,
        d: { steps: [{ id: 'noop', actionId: js.id, input: { code: 'return { ok: true };' } }] },
      },
    );
    const trig = await gql<{ createTrigger: { secret: string; trigger: { id: string } } }>(
      url,
      token,
      'mutation($w: ID!) { createTrigger(workflowId: $w, kind: webhook) { secret trigger { id } } }',
      { w: workflowId },
    );
    const key = Buffer.from(trig.createTrigger.secret.slice('whsec_'.length), 'base64');
    const hookPath = `/hooks/${trig.createTrigger.trigger.id}`;
    const started = await gql<{ triggerWorkflow: { run: { id: string } } }>(
      url,
      token,
      'mutation($w: ID!) { triggerWorkflow(workflowId: $w) { run { id } } }',
      { w: workflowId },
    );
    const runId = started.triggerWorkflow.run.id;
    await completeWithWorker(url, token, runId, env);

    let seq = 0;
    const signed = (): autocannon.Request => ({
      method: 'POST',
      path: hookPath,
      setupRequest: (req) => {
        const id = `msg_${process.pid}_${++seq}`;
        const ts = Math.floor(Date.now() / 1000);
        const body = JSON.stringify({ n: seq });
        const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
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
    });
    const auth = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const rows: Row[] = [];
    rows.push(
      await load('baseline: GET /livez, 10 connections', { url: `${url}/livez`, connections: 10 }),
    );
    const ingress = async (label: string) => {
      for (const c of [1, 10, 50])
        rows.push(
          await load(`webhook ingress, ${label}, concurrency ${c}`, {
            url,
            connections: c,
            requests: [signed()],
          }),
        );
    };
    await ingress('a transaction per delivery (A)');
    await stopServer(server);
    server = await startServer(url, env);
    await ingress('batched, default (B)');
    const steady = async (name: string, body: unknown): Promise<Row> => {
      const r = await steadyLoad({
        url: `${url}/graphql`,
        ratePerSecond: 200,
        durationS: DURATION_S,
        method: 'POST',
        headers: auth,
        body: JSON.stringify(body),
      });
      return {
        name,
        rps: r.rps,
        p50: percentile(r.latencies, 50),
        p95: percentile(r.latencies, 95),
        p99: percentile(r.latencies, 99),
        errors: r.errors,
        non2xx: r.non2xx,
      };
    };
    rows.push(
      await steady('GraphQL read (run with steps), steady 200 req/s', {
        query: 'query($id: ID!) { run(id: $id) { id status steps { stepId status output } } }',
        variables: { id: runId },
      }),
    );
    rows.push(
      await steady('GraphQL write (triggerWorkflow), steady 200 req/s', {
        query: 'mutation($w: ID!) { triggerWorkflow(workflowId: $w) { run { id } } }',
        variables: { w: workflowId },
      }),
    );
    await report(rows);
  } finally {
    await stopServer(server);
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function startServer(url: string, env: Record<string, string>): Promise<ChildProcess> {
  const server = spawn(process.execPath, ['bin/switchyard.js', 'api'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: 'inherit',
  });
  try {
    await waitReady(url);
  } catch (err) {
    await stopServer(server);
    throw err;
  }
  return server;
}

async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
}

/** A `switchyard worker` (attached to the API's embedded server) runs the sample run, then stops. */
async function completeWithWorker(
  url: string,
  token: string,
  runId: string,
  env: Record<string, string>,
): Promise<void> {
  const worker = spawn(process.execPath, ['bin/switchyard.js', 'worker'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: 'inherit',
  });
  try {
    for (let i = 0; i < 300; i++) {
      const r = await gql<{ run: { status: string } }>(
        url,
        token,
        'query($id: ID!) { run(id: $id) { status } }',
        { id: runId },
      );
      if (r.run.status === 'succeeded') return;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error('the sample run did not complete');
  } finally {
    worker.kill('SIGTERM');
    await new Promise((res) => worker.once('exit', res));
  }
}

async function report(rows: Row[]): Promise<void> {
  const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(n >= 100 ? 0 : 1) : '–');
  const table = [
    '| measure | requests/s | p50 ms | p95 ms | p99 ms | errors | non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${fmt(r.rps)} | ${fmt(r.p50)} | ${fmt(r.p95)} | ${fmt(r.p99)} | ${r.errors} | ${r.non2xx} |`,
    ),
  ].join('\n');
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
  const section = `## API\n\nMachine: ${machine}. \`npm run bench:api\`: one \`switchyard api\` process (embedded PostgreSQL with fsync on; no worker runs during the measurement, so the runs the load creates stay queued; ingress is measured twice on the same data, A with \`ENGINE_START_BATCH_MAX=1\` — a transaction per delivery — and B with the default batching of the run intake) and the load generator (autocannon at fixed concurrency; an open-loop generator, bench/steady-load.ts, for the steady rates: latency counted from when each request was due) on the same 2 cores, over 127.0.0.1, ${DURATION_S} s per line.\n\n${table}\n`;
  process.stdout.write(`\n${table}\n`);
  const file = path.join(root, 'bench/RESULTS.md');
  let current = '';
  try {
    current = await readFile(file, 'utf8');
  } catch {
    current = '# Benchmark results\n';
  }
  const start = current.indexOf('## API\n');
  const next = start === -1 ? -1 : current.indexOf('\n## ', start + 1);
  const updated =
    start === -1
      ? `${current.trimEnd()}\n\n${section}`
      : `${current.slice(0, start)}${section}${next === -1 ? '' : current.slice(next + 1)}`;
  await writeFile(file, updated);
}

await main();
