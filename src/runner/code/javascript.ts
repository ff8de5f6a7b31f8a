/**
 * JavaScript code steps in isolated-vm, in an isolate of the step's tenant (javascript-
 * isolates.ts, ADR 0009): in a compartment of the isolate's hardened context when the code
 * allows it (javascript-hardened.ts), else — and whenever that attempt does not answer — in a
 * fresh V8 context. Either way with a heap limit, a wall-clock limit (sync CPU is also bounded
 * by isolated-vm's own timeout), no `require`, no process, no file system, no environment. The
 * only bridges are `console` (→ execution log) and `http` (→ the gate; not in a compartment).
 * The user code is an async function body over `input`; what it returns is the step output.
 * The context is released after every step; the isolate is disposed instead of reused when
 * the step timed out, was aborted, hit the memory limit or left helper calls running. Without
 * a pool, each step gets a fresh isolate, disposed after it.
 */
import ivm from 'isolated-vm';
import { SwitchyardError, isSwitchyardError } from '../../model/errors.ts';
import {
  compartmentSource,
  randomSeed,
  type HardenedRealm,
  type HardenedResult,
} from './javascript-hardened.ts';
import { freshContext, type IsolatePool } from './javascript-isolates.ts';
import { logLine, runHelperRequest, type CodeHost, type CodeRequest } from './sandbox-api.ts';

/** isolated-vm refuses smaller heaps. */
const MIN_ISOLATE_MB = 8;
/**
 * A step that took longer in a compartment goes to fresh contexts from then on: what a
 * compartment saves (~0.5 ms) is nothing beside it, and code heavy on globals runs slower
 * there. Counted in the isolate's CPU time (the step holds its isolate alone), not the wall
 * clock: a busy machine or a stalled event loop must not send quick code to fresh contexts for
 * the rest of the process (bench/RESULTS.md, round eight).
 */
const LONG_STEP_CPU_NS = 100_000_000n;
/** Scripts up to this size compile on the calling thread (well under a millisecond). */
const SYNC_COMPILE_MAX_CHARS = 16_384;

/**
 * Sets up a step's fresh context in one call into the isolate: the host bridges and the input
 * arrive as the closure's arguments ($0 console sink, $1 http bridge, $2 input), so no global
 * ever holds a raw bridge and the user's script (compiled separately) cannot reach them.
 */
const BOOTSTRAP = `
  'use strict';
  const hostLog = $0;
  const hostHttp = $1;
  const text = (a) => { if (typeof a === 'string') return a; try { return JSON.stringify(a); } catch { return String(a); } };
  const make = (level) => (...args) => hostLog(level, args.map(text).join(' '));
  globalThis.console = Object.freeze({ log: make('info'), info: make('info'), warn: make('warn'), error: make('error'), debug: make('debug') });
  const request = async (req) => {
    const parsed = JSON.parse(await hostHttp.apply(undefined, [JSON.stringify(req)], { arguments: { copy: true }, result: { promise: true, copy: true } }));
    if (parsed.error) { const e = new Error(parsed.error.message); e.code = parsed.error.code; throw e; }
    return parsed.ok;
  };
  globalThis.http = Object.freeze({
    request,
    get: (url, opts = {}) => request({ ...opts, method: 'GET', url }),
    post: (url, body, opts = {}) => request({ ...opts, method: 'POST', url, body }),
  });
  globalThis.require = () => { throw new Error('E_CODE_FORBIDDEN: require is not available in code steps (no modules, file system or environment); use the http helper for network calls'); };
  globalThis.input = $2;
`;

export async function runJavaScript(
  req: CodeRequest,
  host: CodeHost,
  /** The tenant's warm isolates; without it the step gets an isolate of its own. */
  warm?: { pool: IsolatePool; tenantKey: string },
): Promise<unknown> {
  const memoryLimit = Math.max(MIN_ISOLATE_MB, req.memoryLimitMb);
  const held = warm ? warm.pool.acquire(warm.tenantKey, memoryLimit) : null;
  const isolate = held?.isolate ?? new ivm.Isolate({ memoryLimit });
  let context: ivm.Context | undefined;
  // Helper calls still running when the step ends would resume in this isolate later.
  const helpers = { pending: 0 };
  try {
    // In a compartment of the isolate's hardened context when the code may run there
    // (javascript-hardened.ts); anything but a clean answer there and it runs again below.
    // A new isolate's hardened context is being made on its thread: its first step waits.
    const realm = await held?.realm;
    if (realm && warm!.pool.mayHarden(req.code)) {
      const cpuBefore = isolate.cpuTime;
      let done: HardenedResult | undefined;
      try {
        done = await runInCompartment(realm, isolate, req, host);
      } catch (err) {
        if (!isSwitchyardError(err, 'E_CODE_TIMEOUT')) throw err;
        // Code can run slower there (a loop over Math: ~2×, bench/RESULTS.md round seven),
        // so a step near its limit may fit in a fresh context: it gets one, in another isolate
        // (this one was cut short), with its whole limit; an endless one ends there too.
        if (!isolate.isDisposed) isolate.dispose();
        warm!.pool.fellBack(req.code);
        return await runJavaScript(req, host, warm);
      }
      if (done) {
        warm!.pool.ranInCompartment();
        // A long step gains nothing from a compartment: its code runs in fresh contexts now.
        if (isolate.cpuTime - cpuBefore > LONG_STEP_CPU_NS) warm!.pool.fellBack(req.code);
        for (let i = 0; i + 1 < done.lines.length; i += 2)
          host.log(logLine(done.lines[i]!, done.lines[i + 1]!));
        return done.output;
      }
      warm!.pool.fellBack(req.code);
    }
    warm?.pool.ranFresh(held!);
    // The set-up runs synchronously on this thread: a fresh context, the user's script, the
    // bridges. Each is a fraction of a millisecond, and the asynchronous forms hand each piece
    // to the isolate's thread and back, which cost more CPU than the work itself (bench/
    // js-isolates.ts: 0.73 → 0.51 ms of CPU a trivial step). A long script compiles on the
    // isolate's thread instead, so that it cannot stall this one. Only the user's code runs
    // there too, under the time limit below.
    context = await freshContext(held, isolate);
    const source = `(async () => { const input = globalThis.input;\n${req.code}\n})()`;
    const script =
      source.length <= SYNC_COMPILE_MAX_CHARS
        ? isolate.compileScriptSync(source, { filename: 'step.js' })
        : await isolate.compileScript(source, { filename: 'step.js' });
    context.evalClosureSync(BOOTSTRAP, [
      new ivm.Callback((level: string, message: string) => host.log(logLine(level, message)), {
        ignored: true,
      }),
      new ivm.Reference(async (json: string) => {
        helpers.pending++;
        try {
          return JSON.stringify({ ok: await runHelperRequest(JSON.parse(json), host) });
        } catch (err) {
          const code = isSwitchyardError(err) ? err.code : 'E_NETWORK';
          return JSON.stringify({ error: { code, message: `${code}: ${(err as Error).message}` } });
        } finally {
          helpers.pending--;
        }
      }),
      new ivm.ExternalCopy(req.input ?? null).copyInto(),
    ]);
    const limit = limits(isolate, req, host);
    try {
      const run = script.run(context, {
        timeout: req.timeoutMs,
        promise: true,
        copy: true,
      }) as Promise<unknown>;
      return await Promise.race([run, limit.wall]);
    } catch (err) {
      throw classify(err, isolate, limit.timedOut(), req);
    } finally {
      limit.clear();
    }
  } catch (err) {
    const e = classify(err, isolate, false, req);
    // An isolate whose execution was cut short is not trusted with another step.
    if (e.code === 'E_CODE_TIMEOUT' || e.code === 'E_CODE_MEMORY_LIMIT') {
      if (!isolate.isDisposed) isolate.dispose();
    }
    throw e;
  } finally {
    if (!isolate.isDisposed) {
      if (held && helpers.pending === 0 && !host.signal.aborted) {
        context?.release();
        warm!.pool.release(held);
      } else isolate.dispose();
    }
  }
}

/**
 * The step in a compartment of its isolate's hardened context: its answer and console lines,
 * or undefined when it threw or its answer could not be copied out (the caller runs it in a
 * fresh context). A timeout, the memory limit or an abort throw their error (the caller runs a
 * timed-out step again in a fresh context; the others end the step).
 */
async function runInCompartment(
  realm: HardenedRealm,
  isolate: ivm.Isolate,
  req: CodeRequest,
  host: CodeHost,
): Promise<HardenedResult | undefined> {
  const limit = limits(isolate, req, host);
  try {
    const run = realm.run.apply(
      undefined,
      [
        compartmentSource(req.code),
        new ivm.ExternalCopy(req.input ?? null).copyInto(),
        ...randomSeed(),
      ],
      { timeout: req.timeoutMs, result: { promise: true, copy: true } },
    );
    return await Promise.race([run, limit.wall]);
  } catch (err) {
    const e = classify(err, isolate, limit.timedOut(), req);
    const final = e.code === 'E_CODE_TIMEOUT' || e.code === 'E_CODE_MEMORY_LIMIT';
    if (final || isolate.isDisposed || host.signal.aborted) throw e;
    return undefined;
  } finally {
    limit.clear();
  }
}

/**
 * The step's wall-clock limit and its abort, both of which dispose the isolate (sync CPU is
 * also bounded by isolated-vm's own timeout): `wall` rejects when either happens.
 */
function limits(isolate: ivm.Isolate, req: CodeRequest, host: CodeHost) {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  let onAbort: (() => void) | undefined;
  const wall = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      isolate.dispose();
      reject(timeoutError(req.timeoutMs));
    }, req.timeoutMs);
    onAbort = () => {
      if (!isolate.isDisposed) isolate.dispose();
      reject(new SwitchyardError('E_STEP_CANCELED', 'The code step was aborted'));
    };
    if (host.signal.aborted) onAbort();
    else host.signal.addEventListener('abort', onAbort, { once: true });
  });
  wall.catch(() => undefined);
  return {
    wall,
    timedOut: () => timedOut,
    clear() {
      clearTimeout(timer);
      if (onAbort) host.signal.removeEventListener('abort', onAbort);
    },
  };
}

function timeoutError(ms: number): SwitchyardError {
  return new SwitchyardError(
    'E_CODE_TIMEOUT',
    `The code step ran longer than its ${ms} ms time limit`,
  );
}

function classify(
  err: unknown,
  isolate: ivm.Isolate,
  timedOut: boolean,
  req: CodeRequest,
): SwitchyardError {
  if (isSwitchyardError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (
    /memory limit/i.test(message) ||
    (isolate.isDisposed && !timedOut && /disposed/i.test(message))
  )
    return new SwitchyardError(
      'E_CODE_MEMORY_LIMIT',
      `The code step used more than its ${req.memoryLimitMb} MB memory limit`,
    );
  if (timedOut || /timed out/i.test(message)) return timeoutError(req.timeoutMs);
  if (message.startsWith('E_CODE_FORBIDDEN: '))
    return new SwitchyardError('E_CODE_FORBIDDEN', message.slice('E_CODE_FORBIDDEN: '.length));
  const stack =
    err instanceof Error && typeof err.stack === 'string'
      ? err.stack.split('\n').slice(0, 4).join('\n')
      : message;
  return new SwitchyardError('E_CODE_ERROR', `The code threw: ${stack}`);
}
