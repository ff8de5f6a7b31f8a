/**
 * Code-step latency benchmark (not a test): `node bench/python.ts`, about 30 s.
 * Runs trivial code steps through the real runner (in-memory stores, no database) and
 * measures, in one run on one machine, the wall time of `runner.execute`:
 *   - a JavaScript step (a fresh isolated-vm isolate per step);
 *   - a Python step, cold: PYTHON_WARM_POOL_SIZE=0, each step starts its sandbox;
 *   - a Python step, warm: a waiting sandboxed interpreter is taken (the pool refilled
 *     between steps, as at a rate below the refill rate);
 *   - Python steps back to back (pool of 2 drained as fast as it refills);
 *   - for reference, the interpreter without the sandbox (python3 -I -S per step, as before).
 * Also the start-time self-check and the memory of one waiting interpreter.
 * Prints a table and writes the "Python steps" section of bench/RESULTS.md.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { javascriptApp, pythonApp } from '../src/model/builtin-apps.ts';
import type { ActionId, AppId, RunId, TenantId, WorkflowId } from '../src/model/ids.ts';
import type { StepExecutor, StepRequest } from '../src/model/step.ts';
import { createCircuitBreaker, createMemoryBreakerStore } from '../src/runner/breaker.ts';
import { createPythonSandbox, type PythonSandbox } from '../src/runner/code/python-sandbox.ts';
import { createGate } from '../src/runner/gate/gate.ts';
import { createMemoryRateLimiter } from '../src/runner/rate-limit.ts';
import { createRunner } from '../src/runner/runner.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const logger = pino({ level: 'silent' });
const clock = { now: () => new Date() };
const never = new AbortController().signal;

function runner(python: PythonSandbox): StepExecutor {
  return createRunner({
    gate: createGate({
      connectTimeoutMs: 2_000,
      headersTimeoutMs: 2_000,
      totalTimeoutMs: 5_000,
      maxResponseBytes: 1024 * 1024,
      allowHttpHosts: [],
    }),
    connections: { load: () => Promise.reject(new Error('no connections in the bench')) },
    rateLimiter: createMemoryRateLimiter(clock),
    breaker: createCircuitBreaker({
      store: createMemoryBreakerStore(clock),
      failureThreshold: 100,
      cooldownMs: 1_000,
    }),
    logSink: { write: () => Promise.resolve() },
    clock,
    logger,
    code: { memoryLimitMb: 64, timeoutMs: 5_000, pythonPath: 'python3' },
    python,
  });
}

function step(app: typeof pythonApp, code: string, n: number): StepRequest {
  const a = app.actions[0]!;
  return {
    action: {
      id: '00000000-0000-4000-8000-000000000001' as ActionId,
      appId: '00000000-0000-4000-8000-000000000002' as AppId,
      appKey: app.key,
      key: a.key,
      kind: a.kind,
      inputSchema: a.inputSchema,
      outputSchema: a.outputSchema,
      implementation: a.implementation,
      baseUrl: null,
      retry: { strategy: 'none', maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
      timeoutMs: 5_000,
      rateLimit: null,
    },
    step: {
      id: 's',
      actionId: '00000000-0000-4000-8000-000000000001' as ActionId,
      input: { code, n },
      onError: 'fail',
    },
    context: {
      tenantId: '00000000-0000-4000-8000-000000000003' as TenantId,
      runId: '00000000-0000-4000-8000-000000000004' as RunId,
      workflowId: '00000000-0000-4000-8000-000000000005' as WorkflowId,
      stepId: 's',
      stepIndex: 0,
      attempt: 1,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      trigger: { body: {}, headers: {}, query: {} },
      steps: {},
      runStartedAt: new Date(),
    },
  };
}

const PY = 'return {"double": input["n"] * 2}';
const JS = 'return { double: input.n * 2 };';

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function series(
  n: number,
  run: (i: number) => Promise<unknown>,
  between?: () => Promise<void>,
) {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    if (between) await between();
    xs.push(await time(() => run(i)));
  }
  return xs;
}

async function check(r: Promise<unknown>): Promise<void> {
  const res = (await r) as { status: string };
  if (res.status !== 'succeeded') throw new Error(`bench step failed: ${JSON.stringify(res)}`);
}

/** The previous way: python3 -I -S with the bootstrap, no sandbox, one process per step. */
function unsandboxed(python: string): Promise<void> {
  const bootstrap = readFileSync(path.join(here, '../src/runner/code/python-bootstrap.py'), 'utf8');
  return new Promise((resolve, reject) => {
    const c = spawn(python, ['-I', '-S', '-c', bootstrap], { env: {}, cwd: '/' });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('"result"')) resolve();
    });
    c.on('error', reject);
    c.on('close', () => (out.includes('"result"') ? resolve() : reject(new Error(out))));
    c.stdin.write(
      `${JSON.stringify({ code: PY, input: { n: 1 }, memoryLimitBytes: 200e6, cpuSeconds: 5 })}\n`,
    );
  });
}

/** Resident memory of a process and its descendants, in MB. */
function treeRssMb(pid: number): number {
  let kb = 0;
  const walk = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      kb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      for (const t of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/))
        if (t) walk(Number(t));
    } catch {
      // The process ended meanwhile.
    }
  };
  walk(pid);
  return kb / 1024;
}

async function main(): Promise<void> {
  const N = Number(process.env.BENCH_STEPS ?? 30);
  const cold = createPythonSandbox({
    pythonPath: 'python3',
    bwrapPath: '/usr/bin/bwrap',
    warmPoolSize: 0,
  });
  const selfCheckMs = await time(() => cold.status());
  const status = await cold.status();
  if (!status.available) throw new Error(`no Python sandbox here: ${status.detail}`);
  const warm = createPythonSandbox({
    pythonPath: 'python3',
    bwrapPath: '/usr/bin/bwrap',
    warmPoolSize: 2,
  });
  await warm.status();
  await until(() => warm.stats().idle === 2);
  const rCold = runner(cold);
  const rWarm = runner(warm);

  // Warm-up of the JavaScript path (isolated-vm's first isolate, ajv's schema compile).
  for (let i = 0; i < 3; i++) await check(rWarm.execute(step(javascriptApp, JS, i), never));
  const js = await series(N, (i) => check(rWarm.execute(step(javascriptApp, JS, i), never)));
  const pyCold = await series(N, (i) => check(rCold.execute(step(pythonApp, PY, i), never)));
  const pyWarm = await series(
    N,
    (i) => check(rWarm.execute(step(pythonApp, PY, i), never)),
    () => until(() => warm.stats().idle === 2),
  );
  const idleRss = (() => {
    const pids: number[] = [];
    // The waiting interpreters are children of this process (bwrap → bwrap → python).
    try {
      const kids = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8');
      for (const k of kids.trim().split(/\s+/)) if (k) pids.push(Number(k));
    } catch {
      // No children file (kernel without it): no memory figure.
    }
    const rss = pids.map(treeRssMb).filter((x) => x > 0);
    return rss.length ? rss.reduce((a, b) => a + b, 0) / rss.length : NaN;
  })();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: N }, (_, i) => check(rWarm.execute(step(pythonApp, PY, i), never))),
  );
  const burstPerS = N / ((performance.now() - t0) / 1000);
  // The interpreter's own binary (not a PATH shim), as the sandbox runs it.
  const python = /\(([^;]+);/.exec(status.detail)?.[1] ?? 'python3';
  const before = await series(Math.min(N, 20), () => unsandboxed(python));
  const stats = warm.stats();
  cold.close();
  warm.close();

  const f = (xs: number[]) => `${pct(xs, 50).toFixed(1)} / ${pct(xs, 95).toFixed(1)} ms`;
  const rows = [
    ['JavaScript step (fresh isolate)', f(js), `${N} steps, one at a time`],
    [
      'Python step, warm (pooled sandbox)',
      f(pyWarm),
      `${N} steps; pool of 2 refilled between steps`,
    ],
    [
      'Python step, cold (sandbox started by the step)',
      f(pyCold),
      `${N} steps, PYTHON_WARM_POOL_SIZE=0`,
    ],
    [
      'Python, reference: python3 -I -S per step without sandbox (before)',
      f(before),
      `${before.length} steps; the same binary and bootstrap (which now imports the allowed modules first; the old one did not), no runner`,
    ],
    [
      'Python steps back to back, pool of 2',
      `${burstPerS.toFixed(1)} steps/s`,
      `${N} steps started at once (${stats.coldStarts} cold)`,
    ],
    [
      'start-time self-check (discover + one sandbox)',
      `${selfCheckMs.toFixed(0)} ms`,
      'once per worker process',
    ],
    [
      'memory of one waiting interpreter (bwrap + python, RSS)',
      `${idleRss.toFixed(1)} MB`,
      'allowed modules imported',
    ],
  ];
  const load = os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ');
  const cpu = os.cpus();
  const section = [
    '## Python steps',
    '',
    `Recorded ${new Date().toISOString()} by \`node bench/python.ts\`: trivial steps (\`n * 2\`) through the real runner (in-memory stores, no database), wall time of one \`execute\` (p50 / p95). Python runs in the bubblewrap sandbox of ADR 0007 (interpreter ${python}).`,
    '',
    '| measure | result | notes |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${os.release()}, Node ${process.version}; load average at the end ${load} (other processes share the machine).`,
    '',
  ].join('\n');
  console.log(section);
  const file = path.join(here, 'RESULTS.md');
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf('## Python steps');
  let next: string;
  if (start < 0) next = `${text.trimEnd()}\n\n${section}`;
  else {
    const end = text.indexOf('\n## ', start + 3);
    next = `${text.slice(0, start)}${section}${end < 0 ? '' : `\n${text.slice(end + 1)}`}`;
  }
  writeFileSync(file, next);
}

await main();
