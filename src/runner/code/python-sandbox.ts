/**
 * The boundary of Python code steps (ADR 0007): every step runs in its own interpreter inside
 * a bubblewrap sandbox — new user (uid 65534), mount, pid, network, IPC and UTS namespaces; a
 * read-only root holding only the interpreter's own files (python-mounts.ts); no /etc, /proc,
 * /tmp, home or data dir; an empty environment; a seccomp filter that refuses sockets, new
 * processes and the kernel's escape hatches (python-seccomp.ts); killed with the worker. The
 * only way out is the JSON-lines pipe to the worker (logs and the gated `http` helper).
 *
 * Availability is decided once, at start, by a self-check: one sandbox must fail to read host
 * files, to open sockets and to fork. If bubblewrap is missing, namespaces are refused or any
 * probe succeeds, Python steps are refused (E_PYTHON_SANDBOX_UNAVAILABLE) — never run weaker.
 *
 * Warm pool: PYTHON_WARM_POOL_SIZE interpreters are started ahead, each waiting on stdin with
 * the allowed modules imported. A step takes one, uses it for that step only, and it is
 * killed afterwards; a replacement starts in the background. Nothing is shared between steps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { SwitchyardError } from '../../model/errors.ts';
import { discoverInterpreter, mountArgs } from './python-mounts.ts';
import { seccompFilter } from './python-seccomp.ts';
import { runPython } from './python.ts';
import type { CodeHost, CodeRequest } from './sandbox-api.ts';

const BOOTSTRAP = readFileSync(new URL('./python-bootstrap.py', import.meta.url), 'utf8');
const SELF_CHECK = readFileSync(new URL('./python-self-check.py', import.meta.url), 'utf8');
/** The self-check spawns the first sandbox (cold caches); a healthy one answers in < 1 s. */
const SELF_CHECK_TIMEOUT_MS = 15_000;
/** nobody: an unprivileged id inside the user namespace, mapped to the worker's own user. */
const SANDBOX_ID = '65534';

const NAMESPACES = [
  '--unshare-user',
  '--unshare-pid',
  '--unshare-net',
  '--unshare-ipc',
  '--unshare-uts',
  '--unshare-cgroup-try',
  '--die-with-parent',
  '--new-session',
  '--clearenv',
  '--uid',
  SANDBOX_ID,
  '--gid',
  SANDBOX_ID,
  '--hostname',
  'sandbox',
  '--dev',
  '/dev',
];

export type PythonSandboxOptions = {
  pythonPath: string;
  /** The bubblewrap binary. */
  bwrapPath: string;
  /** Interpreters kept started and waiting; 0 = every step starts its own (cold). */
  warmPoolSize: number;
  logger?: Pick<Logger, 'info' | 'error' | 'warn'>;
};

export type PythonSandboxStatus =
  | { available: true; detail: string }
  | {
      available: false;
      code: 'E_PYTHON_SANDBOX_UNAVAILABLE' | 'E_PYTHON_UNAVAILABLE';
      detail: string;
    };

export type PythonSandbox = {
  /**
   * Runs the self-check on first call (once per process for the same two binaries); later
   * calls return its verdict. The warm pool starts filling once it is known.
   */
  status(): Promise<PythonSandboxStatus>;
  run(req: CodeRequest, host: CodeHost): Promise<unknown>;
  /** Steps that took a waiting interpreter / started their own; interpreters ready (warm). */
  stats(): { warmStarts: number; coldStarts: number; idle: number };
  /** Kills the waiting interpreters; later steps are refused. */
  close(): void;
};

type Ready = { executable: string; args: string[]; seccomp: Buffer };

export function createPythonSandbox(o: PythonSandboxOptions): PythonSandbox {
  let verdict: Promise<{ status: PythonSandboxStatus; ready: Ready | null }> | null = null;
  const idle: ChildProcess[] = [];
  /** Interpreters that said they are ready (imports done); a step prefers these. */
  const warm = new Set<ChildProcess>();
  const readyListeners = new Map<ChildProcess, (chunk: Buffer) => void>();
  let closed = false;
  const counts = { warmStarts: 0, coldStarts: 0 };

  const decide = () => {
    verdict ??= preparedOnce(o).then((v) => {
      if (v.status.available) {
        o.logger?.info({ detail: v.status.detail }, 'python sandbox ready');
        fill();
      } else
        o.logger?.error(
          { code: v.status.code, detail: v.status.detail },
          'python steps are refused: no sandbox',
        );
      return v;
    });
    return verdict;
  };

  function fill(): void {
    void decide().then(({ ready }) => {
      if (!ready) return;
      while (!closed && idle.length < o.warmPoolSize)
        park(spawnSandbox(o.bwrapPath, ready, BOOTSTRAP));
    });
  }

  function park(child: ChildProcess): void {
    // A waiting interpreter must not keep the worker's event loop alive.
    setRef(child, false);
    idle.push(child);
    child.once('exit', () => {
      const i = idle.indexOf(child);
      if (i >= 0) idle.splice(i, 1);
      warm.delete(child);
      readyListeners.delete(child);
    });
    child.once('error', () => undefined); // reported when a step takes it (no result)
    // The bootstrap's first line says it has imported the allowed modules and waits. The
    // stream is paused after it: the step's protocol handler reads on from there.
    const stdout = child.stdout!;
    const onReady = (chunk: Buffer) => {
      stdout.off('data', onReady);
      readyListeners.delete(child);
      stdout.pause();
      if (chunk.toString('utf8').startsWith('{"type": "ready"}')) warm.add(child);
    };
    readyListeners.set(child, onReady);
    stdout.on('data', onReady);
  }

  /** A waiting interpreter, ready ones first (one still starting beats a cold start). */
  function take(): ChildProcess | undefined {
    const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
    const child = idle.find((c) => warm.has(c) && alive(c)) ?? idle.find(alive);
    if (!child) return undefined;
    idle.splice(idle.indexOf(child), 1);
    warm.delete(child);
    // Still warming up: the step's own reader takes over (and skips the `ready` line).
    const onReady = readyListeners.get(child);
    if (onReady) child.stdout?.off('data', onReady);
    readyListeners.delete(child);
    return child;
  }

  return {
    async status() {
      return (await decide()).status;
    },
    async run(req, host) {
      const { status, ready } = await decide();
      if (!status.available) throw new SwitchyardError(status.code, status.detail);
      if (!ready) throw new Error('a sandbox reported available without its arguments');
      if (closed)
        throw new SwitchyardError('E_PYTHON_SANDBOX_UNAVAILABLE', 'The Python sandbox is closed');
      let child = take();
      if (child) counts.warmStarts += 1;
      else {
        counts.coldStarts += 1;
        child = spawnSandbox(o.bwrapPath, ready, BOOTSTRAP);
      }
      setRef(child, true);
      fill();
      return runPython(child, req, host);
    },
    stats: () => ({ ...counts, idle: warm.size }),
    close() {
      closed = true;
      for (const c of idle.splice(0)) c.kill('SIGKILL');
    },
  };
}

function spawnSandbox(bwrapPath: string, ready: Ready, code: string, extra: string[] = []) {
  const child = spawn(
    bwrapPath,
    [...ready.args, '--', ready.executable, '-I', '-S', '-c', code, ...extra],
    { env: {}, cwd: '/', stdio: ['pipe', 'pipe', 'pipe', 'pipe'] },
  );
  const seccompPipe = child.stdio[3] as Socket | null;
  seccompPipe?.on('error', () => undefined); // bwrap died before reading it: 'exit' says why
  seccompPipe?.end(ready.seccomp);
  return child;
}

function setRef(child: ChildProcess, ref: boolean): void {
  if (ref) child.ref();
  else child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr] as unknown as (Socket | null)[])
    if (ref) s?.ref();
    else s?.unref();
}

/**
 * For /readyz (structurally a ReadinessCheck of src/api, which the runner does not import).
 * A missing sandbox does not make the process unready: HTTP and JavaScript steps, webhooks
 * and the API work; Python steps are refused with the code, and the detail says why.
 */
export function pythonReadinessCheck(sandbox: PythonSandbox): {
  name: string;
  check: () => Promise<{ ok: boolean; detail: string }>;
} {
  return {
    name: 'python',
    check: async () => {
      const s = await sandbox.status();
      return s.available
        ? { ok: true, detail: s.detail }
        : { ok: true, detail: `Python steps refused (${s.code}): ${s.detail}` };
    },
  };
}

/**
 * The verdict is a fact about this host and these two binaries, the same for every sandbox
 * of the process: found once (tests and executors that make several sandboxes share it).
 */
const verdicts = new Map<string, ReturnType<typeof prepare>>();
function preparedOnce(o: PythonSandboxOptions): ReturnType<typeof prepare> {
  const key = `${o.pythonPath}\0${o.bwrapPath}`;
  let v = verdicts.get(key);
  if (!v) {
    v = prepare(o);
    verdicts.set(key, v);
  }
  return v;
}

/** Finds bubblewrap and the interpreter's files, then proves the sandbox holds. */
async function prepare(
  o: PythonSandboxOptions,
): Promise<{ status: PythonSandboxStatus; ready: Ready | null }> {
  const refuse = (code: 'E_PYTHON_SANDBOX_UNAVAILABLE' | 'E_PYTHON_UNAVAILABLE', d: string) => ({
    status: { available: false as const, code, detail: d },
    ready: null,
  });
  const seccomp = seccompFilter();
  if (!seccomp)
    return refuse(
      'E_PYTHON_SANDBOX_UNAVAILABLE',
      `no seccomp filter for this architecture (${process.arch}); Python steps need x64 or arm64`,
    );
  try {
    accessSync(o.bwrapPath, constants.X_OK);
  } catch {
    return refuse(
      'E_PYTHON_SANDBOX_UNAVAILABLE',
      `bubblewrap was not found at ${o.bwrapPath}: install it (Debian: apt-get install bubblewrap) or set PYTHON_BWRAP_PATH`,
    );
  }
  let layout;
  try {
    layout = await discoverInterpreter(o.pythonPath, BOOTSTRAP);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return refuse(
      'E_PYTHON_UNAVAILABLE',
      e.code === 'ENOENT'
        ? `Python steps need python3 on the worker: "${o.pythonPath}" was not found (set PYTHON_PATH or install python3)`
        : `python3 ("${o.pythonPath}") could not start: ${e.message}`,
    );
  }
  const ready: Ready = {
    executable: layout.executable,
    args: [
      ...NAMESPACES,
      ...mountArgs(layout),
      '--remount-ro',
      '/',
      '--chdir',
      '/',
      '--seccomp',
      '3',
    ],
    seccomp,
  };
  const failure = await selfCheck(o.bwrapPath, ready);
  if (failure)
    return refuse('E_PYTHON_SANDBOX_UNAVAILABLE', `sandbox self-check failed: ${failure}`);
  return {
    status: {
      available: true,
      detail: `bubblewrap sandbox (${layout.executable}; warm pool ${o.warmPoolSize})`,
    },
    ready,
  };
}

/**
 * One sandbox runs python-self-check.py, which tries what a step must never manage; returns
 * null when every attempt failed, else what got through (or why the sandbox did not start).
 */
function selfCheck(bwrapPath: string, ready: Ready): Promise<string | null> {
  const hostFiles = ['/etc/passwd', `/proc/${process.pid}/environ`, '/proc/self/environ'];
  if (process.cwd() !== '/') hostFiles.push(process.cwd());
  return new Promise((resolve) => {
    const child = spawnSandbox(bwrapPath, ready, SELF_CHECK, [JSON.stringify(hostFiles)]);
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(`no answer within ${SELF_CHECK_TIMEOUT_MS} ms`);
    }, SELF_CHECK_TIMEOUT_MS);
    child.stdin?.end();
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(`${bwrapPath} could not start: ${e.message}`);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        resolve(`the sandbox exited with ${code}: ${err.trim().slice(-300) || 'no message'}`);
        return;
      }
      try {
        const r = JSON.parse(out) as { escaped: string[] };
        resolve(
          r.escaped.length === 0 ? null : `a sandboxed process could ${r.escaped.join(', ')}`,
        );
      } catch {
        resolve(`unreadable answer: ${out.slice(0, 200)}`);
      }
    });
  });
}
