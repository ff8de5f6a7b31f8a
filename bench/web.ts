/**
 * Web app benchmark, in the browser tests' Chromium (playwright-core, /usr/bin/chromium):
 *
 * - the JavaScript of the first page a person opens (the sign-in page, cold cache): every
 *   script it loads, raw and gzip (zlib level 6, what the server's compression sends);
 * - the runs page with 10,000 runs in the tenant: from navigation to the first page of rows
 *   on screen with the main thread free (a frame painted after them), cold cache once, then the
 *   median of 5 loads with the scripts cached (a person coming back);
 * - the graph editor at 100 steps: frames per second while a step node is dragged across the
 *   canvas for 2 s (requestAnimationFrame counted in the page).
 *
 * `npm run bench:web` builds the web app, starts `switchyard api` on its own embedded
 * PostgreSQL in a temporary directory, writes the "Web app" section of bench/RESULTS.md and
 * stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { freePort } from '../test/support/free-port.ts';
import { openBrowser } from '../test/support/browser.ts';

const root = path.resolve(import.meta.dirname, '..');
const RUNS = 10_000;
const STEPS = 100;
const EMAIL = 'bench@example.test';
const PASSWORD = 'correct horse battery';

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

function startServer(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['bin/switchyard.js', 'api'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: 'inherit',
  });
}

async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
}

async function gql<T>(url: string, cookie: string, query: string, variables = {}): Promise<T> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, 'x-graphql-yoga-csrf': '1' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sy-bench-web-'));
  const port = await freePort();
  const pgPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = startServer({
    SWITCHYARD_DATA_DIR: dataDir,
    PORT: String(port),
    EMBEDDED_PG_PORT: String(pgPort),
    LOG_LEVEL: 'warn',
    RATE_LIMIT_TENANT_PER_MINUTE: '100000000',
    RATE_LIMIT_PRINCIPAL_PER_MINUTE: '100000000',
  });
  const browser = await openBrowser();
  let owner: pg.Client | null = null;
  try {
    await waitReady(url);
    const setup = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-graphql-yoga-csrf': '1' },
      body: JSON.stringify({
        query: `mutation($e: String!, $p: String!) { setup(tenantName: "Bench", email: $e, password: $p) { kind } }`,
        variables: { e: EMAIL, p: PASSWORD },
      }),
    });
    const cookie = (setup.headers.get('set-cookie') ?? '').split(';')[0]!;

    // 10,000 runs over 20 workflows, written as the engine writes them.
    const credentials = JSON.parse(
      await readFile(path.join(dataDir, 'credentials.json'), 'utf8'),
    ) as { ownerPassword: string };
    owner = new pg.Client({
      connectionString: `postgres://postgres:${encodeURIComponent(credentials.ownerPassword)}@127.0.0.1:${pgPort}/switchyard`,
    });
    await owner.connect();
    const tenantId = (await owner.query<{ id: string }>('select id from tenants')).rows[0]!.id;
    await owner.query(
      `with w as (
         insert into workflows (tenant_id, name)
         select $1, 'Workflow ' || i from generate_series(1, 20) i returning id
       ), v as (
         insert into workflow_versions (tenant_id, workflow_id, version, definition)
         select $1, id, 1, '{"steps": []}' from w returning id, workflow_id
       )
       insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, status, created_at,
                                  started_at, finished_at)
       select $1, v.workflow_id, v.id,
              (array['succeeded','succeeded','succeeded','failed','dead','canceled'])[1 + i % 6],
              now() - i * interval '7 seconds', now() - i * interval '7 seconds',
              now() - i * interval '7 seconds' + interval '250 ms'
         from generate_series(1, $2) i
         join (select *, row_number() over () as n from v) v on v.n = 1 + i % 20`,
      [tenantId, RUNS],
    );
    await owner.query('analyze workflows, workflow_runs');

    // A workflow of 100 JavaScript steps for the graph editor.
    const apps = await gql<{
      apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
    }>(url, cookie, '{ apps(first: 100) { nodes { key actions { id } } } }');
    const js = apps.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!.id;
    const wf = await gql<{ createWorkflow: { id: string } }>(
      url,
      cookie,
      'mutation { createWorkflow(name: "Hundred steps") { id } }',
    );
    const big = wf.createWorkflow.id;
    await gql(
      url,
      cookie,
      'mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d) { id } }',
      {
        w: big,
        d: {
          steps: Array.from({ length: STEPS }, (_, i) => ({
            id: `step_${i + 1}`,
            actionId: js,
            input: { code: `return { n: ${i} };` },
          })),
        },
      },
    );

    const { page, context } = browser;
    const cdp = await context.newCDPSession(page);

    // (1) The first page, cold: every script it loads.
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    const scripts = new Map<string, { raw: number; gzip: number }>();
    const onResponse = async (res: import('playwright-core').Response) => {
      if (!/\.m?js(\?|$)/.test(res.url())) return;
      const body = await res.body();
      scripts.set(res.url(), { raw: body.length, gzip: gzipSync(body).length });
    };
    page.on('response', (r) => void onResponse(r));
    await page.goto(`${url}/sign-in`, { waitUntil: 'networkidle' });
    await page.getByLabel('Email').waitFor();
    page.removeAllListeners('response');
    const firstRaw = [...scripts.values()].reduce((a, s) => a + s.raw, 0);
    const firstGzip = [...scripts.values()].reduce((a, s) => a + s.gzip, 0);

    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/workflows', { timeout: 60_000 });

    // (2) The runs page with 10,000 runs: navigation → 50 rows on screen and a frame after.
    type Load = { total: number; dcl: number; gql: number; gqlLastEnd: number };
    const runsPage = async (): Promise<Load> => {
      await page.goto('about:blank');
      await page.goto(`${url}/runs`);
      return page.evaluate(
        () =>
          new Promise<Load>((resolve) => {
            const check = () => {
              if (document.querySelectorAll('main tbody tr').length >= 50)
                requestAnimationFrame(() =>
                  setTimeout(() => {
                    const nav = performance.getEntriesByType('navigation')[0] as
                      PerformanceNavigationTiming | undefined;
                    const gql = performance
                      .getEntriesByType('resource')
                      .filter((r) => r.name.endsWith('/graphql')) as PerformanceResourceTiming[];
                    resolve({
                      total: performance.now(),
                      dcl: nav?.domContentLoadedEventEnd ?? 0,
                      gql: gql.length,
                      gqlLastEnd: Math.max(0, ...gql.map((r) => r.responseEnd)),
                    });
                  }, 0),
                );
              else requestAnimationFrame(check);
            };
            check();
          }),
      );
    };
    const cold = await runsPage();
    const runsCold = cold.total;
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
    await runsPage();
    const loads: Load[] = [];
    for (let i = 0; i < 5; i++) loads.push(await runsPage());
    const warm = loads.map((l) => l.total);
    const runsWarm = median(warm);
    const mid = loads.find((l) => l.total === runsWarm)!;

    // (3) The graph editor at 100 steps: fps while dragging a node for 2 s.
    await page.goto(`${url}/workflows/${big}`);
    await page.waitForFunction(
      (n) => document.querySelectorAll('.vue-flow__node').length >= n,
      STEPS,
      { timeout: 30_000 },
    );
    await page.waitForTimeout(1_000);
    // A step node inside the visible canvas (at 100 steps the graph is taller than the canvas
    // even at its smallest zoom, so the nodes at the ends are scrolled out of it).
    const index = await page.evaluate(() => {
      const pane = document.querySelector('.vue-flow')!.getBoundingClientRect();
      const nodes = [...document.querySelectorAll('.vue-flow__node')];
      return nodes.findIndex((n) => {
        const r = n.getBoundingClientRect();
        const x = r.left + r.width / 2;
        const y = r.top + r.height / 2;
        return (
          n.classList.contains('vue-flow__node-step') &&
          x > pane.left + 20 &&
          x < pane.right - 220 &&
          y > pane.top + 20 &&
          y < Math.min(pane.bottom, window.innerHeight) - 20
        );
      });
    });
    if (index < 0) throw new Error('no step node is visible in the graph');
    const node = page.locator('.vue-flow__node').nth(index);
    await node.scrollIntoViewIfNeeded();
    const box = (await node.boundingBox())!;
    const before = await node.getAttribute('style');
    await page.evaluate(() => {
      const w = window as unknown as { frames_: number[]; counting: boolean };
      w.frames_ = [];
      w.counting = true;
      const tick = (t: number) => {
        w.frames_.push(t);
        if (w.counting) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    const started = Date.now();
    for (let i = 0; Date.now() - started < 2_000; i++) {
      await page.mouse.move(
        box.x + box.width / 2 + (i % 100) * 2,
        box.y + box.height / 2 + (i % 50),
      );
      await page.waitForTimeout(8);
    }
    await page.mouse.up();
    const frames = await page.evaluate(() => {
      const w = window as unknown as { frames_: number[]; counting: boolean };
      w.counting = false;
      return w.frames_;
    });
    const moved = (await node.getAttribute('style')) !== before;
    const spanMs = frames[frames.length - 1]! - frames[0]!;
    const fps = ((frames.length - 1) / spanMs) * 1000;
    const gaps = frames.slice(1).map((t, i) => t - frames[i]!);
    const worstFrame = Math.max(...gaps);

    await report({
      scripts: scripts.size,
      firstRaw,
      firstGzip,
      runsCold,
      runsWarm,
      warm,
      mid,
      fps,
      worstFrame,
      moved,
    });
  } finally {
    await owner?.end();
    await browser.close();
    await stopServer(server);
    await rm(dataDir, { recursive: true, force: true });
  }
}

type Figures = {
  scripts: number;
  firstRaw: number;
  firstGzip: number;
  runsCold: number;
  runsWarm: number;
  warm: number[];
  mid: { dcl: number; gql: number; gqlLastEnd: number };
  fps: number;
  worstFrame: number;
  moved: boolean;
};

async function report(f: Figures): Promise<void> {
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;
  const ok = (pass: boolean) => (pass ? 'met' : '**missed**');
  const table = [
    '| measure | result | notes | target |',
    '|---|---|---|---|',
    `| JavaScript of the first page (sign-in), gzip | ${kb(f.firstGzip)} | ${f.scripts} scripts, ${kb(f.firstRaw)} uncompressed; cold cache | ≤ 300 KB (${ok(f.firstGzip <= 300 * 1024)}) |`,
    `| runs page interactive, 10,000 runs in the tenant | ${f.runsWarm.toFixed(0)} ms | median of 5 loads with the scripts cached (${f.warm.map((x) => x.toFixed(0)).join(', ')} ms); cold cache ${f.runsCold.toFixed(0)} ms; navigation → 50 rows on screen and a frame painted after them (median load: DOMContentLoaded at ${f.mid.dcl.toFixed(0)} ms, ${f.mid.gql} GraphQL requests answered by ${f.mid.gqlLastEnd.toFixed(0)} ms) | ≤ 1 s (${ok(f.runsWarm <= 1000 && f.runsCold <= 1000)}) |`,
    `| graph editor, dragging a node at 100 steps | ${f.fps.toFixed(0)} fps | worst frame ${f.worstFrame.toFixed(0)} ms over 2 s of drag; node moved: ${f.moved ? 'yes' : 'NO'} | ≥ 30 fps (${ok(f.fps >= 30 && f.moved)}) |`,
  ].join('\n');
  const load = os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ');
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, Chromium (headless, the browser tests' /usr/bin/chromium); load average at the end ${load} (other processes share the machine)`;
  const section = `## Web app\n\nRecorded ${new Date().toISOString()} by \`npm run bench:web\` (bench/web.ts): one \`switchyard api\` process serving the built app (embedded PostgreSQL), Chromium on the same machine over 127.0.0.1.\n\n${table}\n\nMachine: ${machine}.\n`;
  process.stdout.write(`\n${table}\n`);
  const file = path.join(root, 'bench/RESULTS.md');
  let current = '';
  try {
    current = await readFile(file, 'utf8');
  } catch {
    current = '# Benchmark results\n';
  }
  const start = current.indexOf('## Web app\n');
  const next = start === -1 ? -1 : current.indexOf('\n## ', start + 1);
  const updated =
    start === -1
      ? `${current.trimEnd()}\n\n${section}`
      : `${current.slice(0, start)}${section}${next === -1 ? '' : current.slice(next + 1)}`;
  await writeFile(file, updated);
}

await main();
