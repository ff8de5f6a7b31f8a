/**
 * The real StepExecutor: one attempt of one step. It resolves the mapping, validates the
 * input, waits for nothing (a step over its rate limit or behind an open breaker is handed
 * back as a retryable failure with retryAfterMs, for the engine to reschedule without
 * counting an attempt), runs the action through the gate, validates the output and writes
 * the step's log lines, scrubbed of the connection's secrets, to the execution log.
 */
import type { Logger } from 'pino';
import { CODE_MAX_CONCURRENT_DEFAULT, type RunnerConfig } from '../config/runner.ts';
import { SwitchyardError, errorCodes, isSwitchyardError, assertNever } from '../model/errors.ts';
import type {
  ExecutionLogLine,
  StepError,
  StepExecutor,
  StepRequest,
  StepResult,
} from '../model/step.ts';
import { idempotencyBaseOf } from '../model/step.ts';
import { createScrubber, scrubValue, type SecretScrubber } from '../security/scrub.ts';
import { createTokenCache } from './actions/auth.ts';
import { executeHttpAction } from './actions/http.ts';
import { childTraceparent } from './actions/trace.ts';
import type { CircuitBreaker } from './breaker.ts';
import { runJavaScript } from './code/javascript.ts';
import { createCodeSlots } from './code/code-slots.ts';
import { createIsolatePool } from './code/javascript-isolates.ts';
import { createPythonSandbox, type PythonSandbox } from './code/python-sandbox.ts';
import { MAX_LOG_LINES, MAX_LOG_MESSAGE_CHARS, type CodeHost } from './code/sandbox-api.ts';
import type { Gate } from './gate/gate.ts';
import { evaluateCondition, resolveMapping, stepScope } from './mapping.ts';
import { guardedOutbound } from './outbound-guard.ts';
import type {
  Clock,
  ConnectionLoader,
  DecryptedConnection,
  LogSink,
  OAuthTokenStore,
  RateLimiter,
} from './types.ts';
import { createSchemaValidator, type SchemaValidator } from './validation.ts';

export type RunnerDeps = {
  gate: Gate;
  connections: ConnectionLoader;
  rateLimiter: RateLimiter;
  breaker: CircuitBreaker;
  logSink: LogSink;
  clock: Clock;
  logger: Logger;
  code: Pick<RunnerConfig['code'], 'memoryLimitMb' | 'timeoutMs' | 'pythonPath'> &
    Partial<
      Pick<RunnerConfig['code'], 'bwrapPath' | 'warmPoolSize' | 'maxConcurrent' | 'jsCompartments'>
    >;
  /**
   * The sandbox Python steps run in (one per process: it owns the warm pool). Without one,
   * the runner makes its own from `code` on the first Python step (no warm pool by default).
   */
  python?: PythonSandbox;
  /** The process-wide scrubber (security/scrub.ts); the runner adds a per-step one. */
  scrubber?: SecretScrubber;
  validator?: SchemaValidator;
  /** Where oauth2_authorization_code tokens are refreshed; without it they are never refreshed. */
  oauthTokens?: OAuthTokenStore;
};

export function createRunner(deps: RunnerDeps): StepExecutor {
  const validator = deps.validator ?? createSchemaValidator();
  const tokens = createTokenCache();
  // JavaScript steps: warm isolates per tenant; a compartment of the isolate's hardened context
  // or a fresh context per step (ADR 0009).
  const isolates = createIsolatePool({ hardened: deps.code.jsCompartments ?? true });
  const codeSlots = createCodeSlots(deps.code.maxConcurrent ?? CODE_MAX_CONCURRENT_DEFAULT);
  const python =
    deps.python ??
    createPythonSandbox({
      pythonPath: deps.code.pythonPath,
      bwrapPath: deps.code.bwrapPath ?? '/usr/bin/bwrap',
      warmPoolSize: deps.code.warmPoolSize ?? 0,
      logger: deps.logger,
    });

  return {
    async execute(request, signal) {
      const lines: ExecutionLogLine[] = [];
      const stepScrubber = createScrubber();
      // A resume token is a capability (whoever holds it resumes the run): the step sends it
      // where its input says, but its StepRun, logs and output keep only `[secret]`.
      for (const link of Object.values(request.context.waits ?? {})) stepScrubber.add(link.token);
      const log = (line: ExecutionLogLine) => {
        if (lines.length < MAX_LOG_LINES) lines.push(line);
        else if (lines.length === MAX_LOG_LINES)
          lines.push({
            level: 'warn',
            message: `more than ${MAX_LOG_LINES} log lines; the rest were dropped`,
          });
      };
      const scrub = (text: string) =>
        (deps.scrubber ?? stepScrubber).scrub(stepScrubber.scrub(text));
      const started = deps.clock.now().getTime();
      const result = await attempt(request, signal, log, stepScrubber).catch(
        (err: unknown): StepResult => ({ status: 'failed', error: toStepError(err, deps.logger) }),
      );
      // Messages pass both scrubbers; data (input, output) only the step's own: the
      // process-wide one knows every tenant's secrets, and one tenant must not be able to
      // rewrite another's outputs by saving a common word as a secret.
      const finalResult = scrubResult(result, scrub, (text) => stepScrubber.scrub(text));
      log(summaryLine(finalResult, deps.clock.now().getTime() - started));
      try {
        await deps.logSink.write(
          request.context,
          lines.map((l) => scrubLine(l, scrub)),
        );
      } catch (err) {
        deps.logger.warn(
          {
            err: { message: scrub((err as Error).message) },
            runId: request.context.runId,
            stepId: request.context.stepId,
          },
          'writing execution log lines failed',
        );
      }
      return finalResult;
    },
  };

  async function attempt(
    { step, action, context }: StepRequest,
    signal: AbortSignal,
    log: (line: ExecutionLogLine) => void,
    stepScrubber: SecretScrubber,
  ): Promise<StepResult> {
    if (signal.aborted)
      throw new SwitchyardError('E_STEP_CANCELED', 'The step was aborted before it started');
    const scope = stepScope(context);
    if (step.if !== undefined && step.if !== null && step.if.trim() !== '') {
      if (!evaluateCondition(step.if, scope)) {
        log({ level: 'info', message: `step ${step.id} skipped: its condition is false` });
        return { status: 'skipped' };
      }
    }
    const input = structuredClone(resolveMapping(step.input ?? {}, scope, 'input'));
    try {
      validator.validate('input', action.inputSchema, input);
    } catch (err) {
      return { status: 'failed', input, error: toStepError(err, deps.logger) };
    }
    try {
      let connection: DecryptedConnection | null = null;
      if (step.connectionId) {
        connection = await deps.connections.load(context.tenantId, step.connectionId);
        for (const v of Object.values(connection.secret))
          if (typeof v === 'string') stepScrubber.add(v);
        registerDerivedSecrets(connection, stepScrubber);
      }
      if (action.rateLimit) {
        const permit = await deps.rateLimiter.acquire({
          tenantId: context.tenantId,
          key: `action:${action.id}`,
          requests: action.rateLimit.requests,
          perSeconds: action.rateLimit.perSeconds,
        });
        if (!permit.allowed) {
          log({
            level: 'info',
            message: `rate limit reached; rescheduled in ${permit.retryAfterMs} ms`,
          });
          throw new SwitchyardError(
            'E_RATE_LIMITED',
            `The action's rate limit (${action.rateLimit.requests} per ${action.rateLimit.perSeconds} s) is reached; the step waits ${permit.retryAfterMs} ms for its slot`,
            { retryAfterMs: permit.retryAfterMs },
          );
        }
      }
      const outbound = guardedOutbound({
        gate: deps.gate,
        breaker: deps.breaker,
        tenantId: context.tenantId,
        connectionId: connection?.id ?? null,
        // A step that already sent once can show a recovery when it probes (see breaker.ts).
        retry: context.attempt > 1,
        signal,
        warn: (message, err) =>
          deps.logger.warn(
            {
              err: { message: stepScrubber.scrub((err as Error)?.message ?? String(err)) },
              runId: context.runId,
              stepId: context.stepId,
            },
            message,
          ),
      });
      let output: unknown;
      const kind = action.kind;
      switch (kind) {
        case 'http':
          output = await executeHttpAction(
            { action, context, input, connection },
            {
              outbound,
              tokens,
              ...(deps.oauthTokens ? { oauth: deps.oauthTokens } : {}),
              // Auth header values and OAuth tokens (fetched or cached): scrubbed from here on.
              reveal: (value) => stepScrubber.add(value),
              scrub: (text) => stepScrubber.scrub(text),
              clock: deps.clock,
              log: (level, message, data) =>
                log(data === undefined ? { level, message } : { level, message, data }),
            },
          );
          break;
        case 'javascript':
        case 'python': {
          const code = codeOf(action.implementation, input);
          // A helper request that failed for a reason the step cannot fix (breaker open,
          // network, 5xx…) keeps its own code when the code lets the error escape.
          let helperError: SwitchyardError | undefined;
          let calls = 0;
          const host: CodeHost = {
            outbound: async (req) => {
              // The n-th helper call of a step gets the same key on every attempt (for code
              // that makes its calls in a deterministic order); the code may set its own.
              calls += 1;
              const headers = {
                'idempotency-key': `${idempotencyBaseOf(context)}:${calls}`,
                traceparent: childTraceparent(context.traceparent),
                ...req.headers,
              };
              try {
                return await outbound({ ...req, headers });
              } catch (err) {
                if (isSwitchyardError(err)) helperError = err;
                throw err;
              }
            },
            log,
            signal,
          };
          const req = {
            code,
            input,
            timeoutMs: Math.min(deps.code.timeoutMs, action.timeoutMs),
            memoryLimitMb: deps.code.memoryLimitMb,
          };
          try {
            output = await codeSlots.run(signal, () =>
              kind === 'javascript'
                ? runJavaScript(req, host, { pool: isolates, tenantKey: context.tenantId })
                : python.run(req, host),
            );
          } catch (err) {
            if (
              isSwitchyardError(err, 'E_CODE_ERROR') &&
              helperError &&
              err.message.includes(helperError.code)
            )
              throw helperError;
            throw err;
          }
          break;
        }
        default:
          return assertNever(kind);
      }
      output = structuredClone(output ?? null);
      validator.validate('output', action.outputSchema, output);
      return { status: 'succeeded', input, output };
    } catch (err) {
      return { status: 'failed', input, error: toStepError(err, deps.logger) };
    }
  }
}

/** Code of a code action: its implementation's `code`, or the step input's (built-in apps). */
function codeOf(implementation: unknown, input: unknown): string {
  const impl = (implementation ?? {}) as { code?: unknown; codeFromInput?: unknown };
  const code = impl.codeFromInput === true ? (input as { code?: unknown } | null)?.code : impl.code;
  if (typeof code !== 'string' || code.trim() === '')
    throw new SwitchyardError('E_ACTION_INVALID', 'A code action needs code (a non-empty string)');
  return code;
}

/** Secrets as they appear on the wire: basic-auth credentials, base64-encoded. */
function registerDerivedSecrets(conn: DecryptedConnection, scrubber: SecretScrubber): void {
  const user =
    conn.secret.username ??
    (typeof conn.config.username === 'string' ? conn.config.username : undefined);
  if (conn.secret.password && user) scrubber.add(`${user}:${conn.secret.password}`);
  if (conn.secret.clientId && conn.secret.clientSecret)
    scrubber.add(
      `${encodeURIComponent(conn.secret.clientId)}:${encodeURIComponent(conn.secret.clientSecret)}`,
    );
}

export function toStepError(err: unknown, logger: Logger): StepError {
  if (isSwitchyardError(err)) {
    const retryAfterMs = err.details.retryAfterMs;
    return {
      code: err.code,
      message: err.message,
      retryable: errorCodes[err.code].retryable,
      ...(typeof retryAfterMs === 'number' ? { retryAfterMs } : {}),
    };
  }
  // Not a failure the step caused (those are SwitchyardErrors): an infrastructure error or a
  // bug met inside the attempt. Retryable, so the run is retried and, at worst, dead-lettered
  // (replayable) instead of failed for good after an outgoing call that may have succeeded.
  logger.error({ err }, 'unexpected error in a step');
  return {
    code: 'E_EXECUTOR_CRASHED',
    message: `Unexpected error in the runner: ${(err as Error)?.message ?? String(err)}`,
    retryable: errorCodes.E_EXECUTOR_CRASHED.retryable,
  };
}

/**
 * Everything of the result that will be stored (step input and output, error message) passes
 * the step's scrubber: an upstream that echoes the request must not put the connection's
 * secret into step_runs, the run's output or a dead letter.
 */
function scrubResult(
  result: StepResult,
  scrub: (s: string) => string,
  scrubData: (s: string) => string,
): StepResult {
  switch (result.status) {
    case 'succeeded':
      return {
        status: 'succeeded',
        input: scrubValue(result.input, scrubData),
        output: scrubValue(result.output, scrubData),
      };
    case 'skipped':
      return result;
    case 'failed': {
      const out: StepResult = {
        status: 'failed',
        error: { ...result.error, message: scrub(result.error.message) },
      };
      if (result.input !== undefined) out.input = scrubValue(result.input, scrubData);
      return out;
    }
    default:
      return assertNever(result);
  }
}

/** Scrubbed first, cut to length after (see MAX_RAW_LOG_MESSAGE_CHARS in sandbox-api.ts). */
function scrubLine(line: ExecutionLogLine, scrub: (s: string) => string): ExecutionLogLine {
  const message = scrub(line.message);
  const out: ExecutionLogLine = {
    level: line.level,
    message:
      message.length > MAX_LOG_MESSAGE_CHARS
        ? `${message.slice(0, MAX_LOG_MESSAGE_CHARS)}…`
        : message,
  };
  if (line.data !== undefined) out.data = scrubValue(line.data, scrub);
  return out;
}

function summaryLine(result: StepResult, durationMs: number): ExecutionLogLine {
  switch (result.status) {
    case 'succeeded':
      return { level: 'info', message: `step succeeded in ${durationMs} ms`, data: { durationMs } };
    case 'skipped':
      return { level: 'info', message: 'step skipped', data: { durationMs } };
    case 'failed':
      return {
        level: result.error.retryable ? 'warn' : 'error',
        message: `step failed: ${result.error.code}: ${result.error.message}`,
        data: { durationMs, code: result.error.code, retryable: result.error.retryable },
      };
    default:
      return assertNever(result);
  }
}
