/**
 * JavaScript step strategies (ADR 0009): the cost of one trivial code step (`return { n,
 * doubled }`) in isolated-vm, four ways, measured back to back in one process:
 *   fresh        — a new isolate per step, context + bootstrap + compile + run, disposed (before);
 *   pool         — isolates created ahead (off the step's path, but the same CPU), used once;
 *   warm-context — one warm isolate per tenant, a fresh context per step (the choice);
 *   warm+cache   — the same with the compiled user code cached per isolate (compileScript once;
 *                  a script is bound to its isolate, not to a context);
 *   warm, sync   — the same set-up with isolated-vm's synchronous calls (context, compile,
 *                  bridges on the calling thread; only the run goes to the isolate's thread);
 *   one context  — a warm isolate whose one context serves every step (not used: a step's
 *                  globals would reach the next step; measured for what it would save).
 * Also the real code-step path (src/runner/code/javascript.ts), without and with the pool (whose
 * isolates make the next step's context on their own thread while they wait), the pool with
 * fresh contexts only and with the compartment of a hardened context (javascript-hardened.ts).
 * CPU per step is the process's (every thread) and, of it, the main thread's: the one thread
 * that also serves the worker's HTTP, queries and transitions.
 * `node bench/js-isolates.ts` (BENCH_STEPS, default 2,000 per line). Prints a table.
 */
import ivm from 'isolated-vm';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { runJavaScript } from '../src/runner/code/javascript.ts';
import type { CodeHost } from '../src/runner/code/sandbox-api.ts';
import { createIsolatePool } from '../src/runner/code/javascript-isolates.ts';

const STEPS = Number(process.env.BENCH_STEPS ?? 2000);
const CODE = 'return { n: input.n, doubled: input.n * 2 };';
const wrap = (code: string) => `(async () => { const input = globalThis.input;\n${code}\n})()`;

async function runIn(isolate: ivm.Isolate, script: ivm.Script | null, n: number) {
  const context = await isolate.createContext();
  try {
    await context.global.set('input', new ivm.ExternalCopy({ n }).copyInto());
    const s = script ?? (await isolate.compileScript(wrap(CODE)));
    return (await s.run(context, { timeout: 1000, promise: true, copy: true })) as unknown;
  } finally {
    context.release();
  }
}

/** As runIn, the set-up with the synchronous calls (what src/runner/code/javascript.ts does). */
async function runInSync(isolate: ivm.Isolate, n: number) {
  const context = isolate.createContextSync();
  try {
    context.global.setSync('input', new ivm.ExternalCopy({ n }).copyInto());
    const s = isolate.compileScriptSync(wrap(CODE));
    return (await s.run(context, { timeout: 1000, promise: true, copy: true })) as unknown;
  } finally {
    context.release();
  }
}

type Line = {
  name: string;
  perStepMs: number;
  stepsPerS: number;
  cpuMsPerStep: number;
  /** This thread's share: the one that also serves the worker's HTTP, queries and steps. */
  mainCpuMsPerStep: number;
};

/** CPU ms of this process's main thread (its task has the process's id). */
function mainThreadCpuMs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime (fields 14 and 15), in clock ticks of 10 ms.
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function measure(name: string, step: (i: number) => Promise<unknown>): Promise<Line> {
  for (let i = 0; i < 50; i++) await step(i); // warm-up
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const t0 = performance.now();
  // 16 at a time, like a worker's slots.
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < STEPS) await step(next++);
    }),
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const main = mainThreadCpuMs() - main0;
  return {
    name,
    perStepMs: ms / STEPS,
    stepsPerS: (STEPS / ms) * 1000,
    cpuMsPerStep: (cpu.user + cpu.system) / 1000 / STEPS,
    mainCpuMsPerStep: main / STEPS,
  };
}

const lines: Line[] = [];
lines.push(
  await measure('fresh isolate per step', async (i) => {
    const isolate = new ivm.Isolate({ memoryLimit: 64 });
    try {
      return await runIn(isolate, null, i);
    } finally {
      isolate.dispose();
    }
  }),
);
{
  const pool: ivm.Isolate[] = [];
  const refill = () => {
    while (pool.length < 16) pool.push(new ivm.Isolate({ memoryLimit: 64 }));
  };
  refill();
  lines.push(
    await measure('pool of pre-created isolates, one use each', async (i) => {
      const isolate = pool.pop() ?? new ivm.Isolate({ memoryLimit: 64 });
      setImmediate(refill);
      try {
        return await runIn(isolate, null, i);
      } finally {
        isolate.dispose();
      }
    }),
  );
  for (const iso of pool) iso.dispose();
}
{
  const warm = new ivm.Isolate({ memoryLimit: 64 });
  lines.push(
    await measure('warm isolate per tenant, fresh context per step', (i) => runIn(warm, null, i)),
  );
  warm.dispose();
}
// Each line has an isolate of its own: ~2,000 released contexts are garbage V8 collects only
// when it needs the room, and a second line on the same isolate could hit its memory limit
// (the runner retires an isolate past 8 MB of heap, javascript-isolates.ts).
{
  const warm = new ivm.Isolate({ memoryLimit: 64 });
  const cached = await warm.compileScript(wrap(CODE));
  lines.push(
    await measure('warm isolate, fresh context, compiled script cached', (i) =>
      runIn(warm, cached, i),
    ),
  );
  warm.dispose();
}
{
  const warm = new ivm.Isolate({ memoryLimit: 64 });
  lines.push(
    await measure('warm isolate, fresh context, synchronous set-up', (i) => runInSync(warm, i)),
  );
  warm.dispose();
}
{
  // Not used (ADR 0009): what sharing one context between steps would save.
  const warm = new ivm.Isolate({ memoryLimit: 64 });
  const context = warm.createContextSync();
  const script = warm.compileScriptSync(wrap(CODE));
  lines.push(
    await measure('warm isolate, one context for every step (not used)', async (i) => {
      context.global.setSync('input', new ivm.ExternalCopy({ n: i }).copyInto());
      return (await script.run(context, { timeout: 1000, promise: true, copy: true })) as unknown;
    }),
  );
  context.release();
  warm.dispose();
}
const host: CodeHost = {
  outbound: () => Promise.reject(new Error('no network in this bench')),
  log: () => {},
  signal: new AbortController().signal,
};
const req = (i: number) => ({ code: CODE, input: { n: i }, timeoutMs: 5000, memoryLimitMb: 64 });
lines.push(
  await measure('runJavaScript without a pool (fresh isolate, as before ADR 0009)', (i) =>
    runJavaScript(req(i), host),
  ),
);
for (const hardened of [false, true]) {
  const pool = createIsolatePool({ hardened });
  const name = hardened
    ? 'runJavaScript with the warm pool, in its hardened compartment, code evaluated once (ADR 0009, stop 32)'
    : 'runJavaScript with the warm pool, a fresh context per step (CODE_JS_COMPARTMENTS=false)';
  // The hardened contexts are made after each isolate's first step, on its own thread.
  for (let i = 0; i < 16; i++) await runJavaScript(req(i), host, { pool, tenantKey: 'bench' });
  await new Promise((r) => setTimeout(r, 200));
  lines.push(await measure(name, (i) => runJavaScript(req(i), host, { pool, tenantKey: 'bench' })));
  pool.close();
}

const fmt = (n: number) => n.toFixed(n >= 100 ? 0 : 2);
process.stdout.write(
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.version}, load average ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(
      ' ',
    )}; ${STEPS} steps per line, 16 at a time.\n\n| strategy | wall ms per step | steps/s | CPU ms per step | of it on the main thread |\n|---|---:|---:|---:|---:|\n${lines
    .map(
      (l) =>
        `| ${l.name} | ${fmt(l.perStepMs)} | ${fmt(l.stepsPerS)} | ${fmt(l.cpuMsPerStep)} | ${fmt(l.mainCpuMsPerStep)} |`,
    )
    .join('\n')}\n`,
);
