/**
 * Python code steps: one `python3 -I -S` child process per step, with an empty environment,
 * rlimits set by the bootstrap (address space, CPU, no forks, no file writes), a wall-clock
 * kill, and a JSON-lines protocol over stdin/stdout through which `print` reaches the
 * execution log and `http` requests come back here to pass the gate. See
 * python-bootstrap.py for what the in-process restrictions do and do not guarantee.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SwitchyardError, isSwitchyardError, type ErrorCode } from '../../model/errors.ts';
import { logLine, runHelperRequest, type CodeHost, type CodeRequest } from './sandbox-api.ts';

const BOOTSTRAP = readFileSync(new URL('./python-bootstrap.py', import.meta.url), 'utf8');
/** The interpreter's own footprint; the step's memory limit comes on top of it. */
const INTERPRETER_BASE_MB = 48;
const MAX_STDERR_CHARS = 4_000;
/** A line (log, http request, result) longer than this ends the step: it would only eat memory. */
const MAX_LINE_CHARS = 16 * 1024 * 1024;

type Message =
  | { type: 'log'; level: string; message: string }
  | { type: 'http'; id: number; request: unknown }
  | { type: 'result'; output: unknown }
  | { type: 'error'; code: string; message: string };

const codesFromPython = new Set<ErrorCode>([
  'E_CODE_FORBIDDEN',
  'E_CODE_MEMORY_LIMIT',
  'E_CODE_ERROR',
]);

export function runPython(
  req: CodeRequest & { pythonPath: string },
  host: CodeHost,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(req.pythonPath, ['-I', '-S', '-c', BOOTSTRAP], {
      env: {},
      cwd: '/',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let settled = false;
    let stderr = '';
    let buffered = '';
    let killedForTimeout = false;
    const finish = (err: SwitchyardError | null, output?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      host.signal.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (err) reject(err);
      else resolve(output);
    };
    const timer = setTimeout(() => {
      killedForTimeout = true;
      finish(
        new SwitchyardError(
          'E_CODE_TIMEOUT',
          `The code step ran longer than its ${req.timeoutMs} ms time limit`,
        ),
      );
    }, req.timeoutMs);
    const onAbort = () =>
      finish(new SwitchyardError('E_STEP_CANCELED', 'The code step was aborted'));
    host.signal.addEventListener('abort', onAbort, { once: true });

    child.on('error', (err: NodeJS.ErrnoException) =>
      finish(
        err.code === 'ENOENT'
          ? new SwitchyardError(
              'E_PYTHON_UNAVAILABLE',
              `Python steps need python3 on the worker: "${req.pythonPath}" was not found (set PYTHON_PATH or install python3)`,
            )
          : new SwitchyardError('E_CODE_ERROR', `python3 could not start: ${err.message}`),
      ),
    );
    child.stdin.on('error', () => undefined); // the child died; 'exit' reports why
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < MAX_STDERR_CHARS) stderr += s;
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_LINE_CHARS) {
        finish(
          new SwitchyardError(
            'E_CODE_ERROR',
            `The code step wrote more than ${MAX_LINE_CHARS} characters in one message`,
          ),
        );
        return;
      }
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() !== '') handle(line);
      }
    });
    child.on('exit', (code, signal) => {
      if (settled) return;
      if (killedForTimeout || signal === 'SIGXCPU')
        finish(
          new SwitchyardError(
            'E_CODE_TIMEOUT',
            `The code step ran longer than its ${req.timeoutMs} ms time limit`,
          ),
        );
      else
        finish(
          new SwitchyardError(
            'E_CODE_ERROR',
            `python3 exited (${signal ?? `code ${code}`}) without a result${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`,
          ),
        );
    });

    const limitBytes = (req.memoryLimitMb + INTERPRETER_BASE_MB) * 1024 * 1024;
    child.stdin.write(
      `${JSON.stringify({
        code: req.code,
        input: req.input ?? null,
        memoryLimitBytes: limitBytes,
        cpuSeconds: Math.max(1, Math.ceil(req.timeoutMs / 1000)),
      })}\n`,
    );

    function handle(line: string): void {
      let msg: Message;
      try {
        msg = JSON.parse(line) as Message;
      } catch {
        host.log(logLine('info', line));
        return;
      }
      switch (msg.type) {
        case 'log':
          host.log(logLine(msg.level, msg.message));
          return;
        case 'http':
          void runHelperRequest(msg.request, host).then(
            (ok) => answer({ id: msg.id, ok }),
            (err: unknown) => {
              const code = isSwitchyardError(err) ? err.code : 'E_NETWORK';
              answer({ id: msg.id, error: `${code}: ${(err as Error).message}` });
            },
          );
          return;
        case 'result':
          finish(null, msg.output);
          return;
        case 'error': {
          const code = codesFromPython.has(msg.code as ErrorCode)
            ? (msg.code as ErrorCode)
            : 'E_CODE_ERROR';
          const text =
            code === 'E_CODE_MEMORY_LIMIT'
              ? `The code step used more than its ${req.memoryLimitMb} MB memory limit`
              : code === 'E_CODE_ERROR'
                ? `The code raised ${msg.message}`
                : msg.message;
          finish(new SwitchyardError(code, text));
          return;
        }
        default:
          host.log(logLine('warn', `unknown message from python: ${line.slice(0, 200)}`));
      }
    }

    function answer(a: unknown): void {
      if (!settled) child.stdin.write(`${JSON.stringify(a)}\n`);
    }
  });
}
