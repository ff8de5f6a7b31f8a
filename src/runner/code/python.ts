/**
 * One Python code step in one sandboxed interpreter (started by python-sandbox.ts, waiting
 * on stdin): the JSON-lines protocol over stdin/stdout through which `print` reaches the
 * execution log and `http` requests come back here to pass the gate, the rlimits the
 * bootstrap sets from the start message (address space, CPU, no file writes), and a
 * wall-clock kill. The interpreter is killed when the step ends, whatever the outcome.
 */
import type { ChildProcess } from 'node:child_process';
import { SwitchyardError, isSwitchyardError, type ErrorCode } from '../../model/errors.ts';
import { logLine, runHelperRequest, type CodeHost, type CodeRequest } from './sandbox-api.ts';
/**
 * The interpreter's own footprint; the step's memory limit comes on top of it. A warm
 * interpreter has already imported the allowed modules (address space ~25 MB on CPython
 * 3.11, against ~14 MB bare), so this is 12 MB above the 48 MB it was before the pool, to
 * leave a step the same budget.
 */
const INTERPRETER_BASE_MB = 60;
const MAX_STDERR_CHARS = 4_000;
/** A line (log, http request, result) longer than this ends the step: it would only eat memory. */
const MAX_LINE_CHARS = 16 * 1024 * 1024;

type Message =
  | { type: 'log'; level: string; message: string }
  | { type: 'http'; id: number; request: unknown }
  | { type: 'result'; output: unknown }
  | { type: 'error'; code: string; message: string }
  | { type: 'ready' };

const codesFromPython = new Set<ErrorCode>([
  'E_CODE_FORBIDDEN',
  'E_CODE_MEMORY_LIMIT',
  'E_CODE_ERROR',
]);

export function runPython(child: ChildProcess, req: CodeRequest, host: CodeHost): Promise<unknown> {
  const { stdin: maybeStdin, stdout, stderr: errStream } = child;
  if (!maybeStdin || !stdout || !errStream) throw new Error('a Python sandbox needs piped stdio');
  const stdin = maybeStdin;
  return new Promise((resolve, reject) => {
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
        new SwitchyardError(
          'E_PYTHON_SANDBOX_UNAVAILABLE',
          `the Python sandbox could not start: ${err.message}`,
        ),
      ),
    );
    stdin.on('error', () => undefined); // the child died; 'exit' reports why
    errStream.setEncoding('utf8');
    errStream.on('data', (s: string) => {
      if (stderr.length < MAX_STDERR_CHARS) stderr += s;
    });
    stdout.setEncoding('utf8');
    stdout.on('data', (chunk: string) => {
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
    stdout.resume(); // a pooled interpreter's stdout was paused after its `ready` line
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      // bubblewrap reports its child's death by signal as 128 + signal number (SIGXCPU: 24).
      if (killedForTimeout || signal === 'SIGXCPU' || code === 128 + 24)
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
    };
    // 'close' (not 'exit'): the result line may still be in the pipe when the process ends.
    // A pooled interpreter may have died while it waited: then nothing more will come.
    if (child.exitCode !== null || child.signalCode !== null)
      queueMicrotask(() => onExit(child.exitCode, child.signalCode));
    else child.on('close', onExit);

    const limitBytes = (req.memoryLimitMb + INTERPRETER_BASE_MB) * 1024 * 1024;
    stdin.write(
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
        case 'ready': // an interpreter the step took before it finished warming up
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
      if (!settled) stdin.write(`${JSON.stringify(a)}\n`);
    }
  });
}
