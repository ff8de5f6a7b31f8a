/**
 * Retries: what failed, whether it may be retried, and when. One exhaustive switch classifies
 * every way an attempt can fail; the backoff follows the action's policy:
 *   none         no retry
 *   fixed        initialDelayMs
 *   exponential  min(maxDelayMs, initialDelayMs * 2^(attempt-1))
 * minus up to JITTER_RATIO of it at random (never above the cap), and never earlier than a
 * Retry-After the step reported.
 */
import { assertNever, type ErrorCode } from '../model/errors.ts';
import { isDeferral, type RetryPolicy, type StepError } from '../model/step.ts';
import type { Random } from './deps.ts';

/**
 * Up to 20% earlier than the nominal delay: spreads retries of many runs that failed together
 * (a downstream outage) without ever exceeding maxDelayMs.
 */
export const JITTER_RATIO = 0.2;

/**
 * How many times a step is run again after its worker was lost (killed, crashed, out of
 * memory, lease lost, stopped past the shutdown deadline). These attempts are the platform's
 * fault, so they do not count against the action's maxAttempts (the built-in code actions allow
 * one attempt: a redeploy during a code step would otherwise kill the run); they are bounded
 * apart so that a step that kills its worker every time still ends (dead,
 * E_WORKER_LOST_REPEATEDLY) instead of taking down workers forever.
 */
export const INFRA_MAX_RETRIES = 3;

/** Retry-After values beyond a day are clamped: a broken header must not park a run forever. */
const MAX_RETRY_AFTER_MS = 86_400_000;

export type AttemptFailure =
  | { kind: 'step-error'; error: StepError }
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'executor-crashed'; message: string }
  /** The step's workers were lost more than INFRA_MAX_RETRIES times. */
  | { kind: 'worker-lost-repeatedly'; losses: number }
  | { kind: 'action-missing'; actionId: string }
  | { kind: 'invalid-step'; message: string };

export type ClassifiedError = {
  code: string;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
  /** The runner handed the step back unrun (rate limit, open breaker): not an attempt. */
  deferred?: boolean;
};

/** Deferral without a Retry-After: wait this long before offering the step again. */
const DEFAULT_DEFERRAL_MS = 1_000;

export function classifyFailure(f: AttemptFailure): ClassifiedError {
  switch (f.kind) {
    case 'step-error': {
      const out: ClassifiedError = {
        code: f.error.code,
        message: f.error.message,
        retryable: f.error.retryable,
      };
      if (f.error.retryAfterMs !== undefined && f.error.retryAfterMs >= 0)
        out.retryAfterMs = Math.min(f.error.retryAfterMs, MAX_RETRY_AFTER_MS);
      if (isDeferral(f.error)) out.deferred = true;
      return out;
    }
    case 'timeout':
      return err('E_STEP_TIMEOUT', `The step did not finish within ${f.timeoutMs} ms.`, true);
    case 'executor-crashed':
      return err('E_EXECUTOR_CRASHED', `The step executor threw: ${f.message}`, true);
    case 'worker-lost-repeatedly':
      return err(
        'E_WORKER_LOST_REPEATEDLY',
        `The worker running this step was lost ${f.losses} times (killed, crashed, out of memory or lease lost); ` +
          `after ${INFRA_MAX_RETRIES} infrastructure retries the step is not run again. ` +
          'A step that exhausts or crashes its worker every time does this.',
        true,
      );
    case 'action-missing':
      return err(
        'E_ACTION_NOT_FOUND',
        `The step's action ${f.actionId} does not exist (deleted after the version was published?).`,
        false,
      );
    case 'invalid-step':
      return err('E_VALIDATION', f.message, false);
    default:
      return assertNever(f);
  }
}

function err(code: ErrorCode, message: string, retryable: boolean): ClassifiedError {
  return { code, message, retryable };
}

/** Delay before the attempt after `attempt` (1-based), or null when none is left. */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: Random): number | null {
  if (attempt >= policy.maxAttempts) return null;
  let base: number;
  switch (policy.strategy) {
    case 'none':
      return null;
    case 'fixed':
      base = policy.initialDelayMs;
      break;
    case 'exponential':
      base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
      break;
    default:
      return assertNever(policy.strategy);
  }
  return base - Math.floor(base * JITTER_RATIO * random());
}

export type FailureDecision =
  | { kind: 'retry'; delayMs: number }
  /** Offered again after the delay, without counting an attempt (model/step.ts isDeferral). */
  | { kind: 'defer'; delayMs: number }
  /** failed: not retryable; dead: retryable but no attempt left (goes to the DLQ). */
  | { kind: 'give-up'; status: 'failed' | 'dead' };

export function decideAfterFailure(
  policy: RetryPolicy,
  attempt: number,
  error: ClassifiedError,
  random: Random,
): FailureDecision {
  if (error.deferred) return { kind: 'defer', delayMs: error.retryAfterMs ?? DEFAULT_DEFERRAL_MS };
  if (!error.retryable) return { kind: 'give-up', status: 'failed' };
  const delay = retryDelayMs(policy, attempt, random);
  if (delay === null) return { kind: 'give-up', status: 'dead' };
  return { kind: 'retry', delayMs: Math.max(delay, error.retryAfterMs ?? 0) };
}
