/**
 * The contract between the engine (which owns runs, attempts and retries) and the runner
 * (which executes one attempt of one step). Neither imports the other: the composition root
 * (cli/) wires a runner-backed StepExecutor into the engine.
 */
import type {
  ActionId,
  AppId,
  ConnectionId,
  RunId,
  StepRunId,
  TenantId,
  WorkflowId,
} from './ids.ts';

export type OnError = 'fail' | 'continue';

/** One step of a workflow version's definition (`definition.steps[i]`). */
export type StepDefinition = {
  id: string;
  actionId: ActionId;
  connectionId?: ConnectionId | null;
  /** JSON whose strings may hold `{{ path }}` references (the mapping language). */
  input: unknown;
  /** A mapping expression; the step is skipped when it resolves falsy. */
  if?: string | null;
  onError: OnError;
  /**
   * Test runs only (testWorkflow's `pinnedOutputs`): the step's output, used instead of
   * calling the action (cli/pinned-executor.ts). Saved versions never carry it.
   */
  pinnedOutput?: unknown;
};

export type RetryStrategy = 'none' | 'fixed' | 'exponential';

export type RetryPolicy = {
  strategy: RetryStrategy;
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
};

export type ActionKind = 'http' | 'javascript' | 'python';

/** How an app authenticates (the apps.auth_kind check constraint). */
export type AuthKind =
  | 'none'
  | 'api_key'
  | 'bearer'
  | 'basic'
  | 'oauth2_client_credentials'
  | 'oauth2_authorization_code';

/** An action as the runner needs it (loaded by the engine from `actions` + `apps`). */
export type ActionSpec = {
  id: ActionId;
  appId: AppId;
  appKey: string;
  key: string;
  kind: ActionKind;
  inputSchema: unknown;
  outputSchema: unknown;
  implementation: unknown;
  baseUrl: string | null;
  retry: RetryPolicy;
  timeoutMs: number;
  rateLimit: { requests: number; perSeconds: number } | null;
};

/** What a step can reference through the mapping language. */
export type StepContext = {
  tenantId: TenantId;
  runId: RunId;
  /**
   * For a replay, the first run of its replay chain; absent or null: the run is its own origin.
   * Outgoing calls derive their idempotency keys from it (idempotencyBaseOf).
   */
  originRunId?: RunId | null;
  workflowId: WorkflowId;
  stepId: string;
  stepIndex: number;
  /** 1 for the first attempt. */
  attempt: number;
  /** The step_runs row of this attempt (links execution-log lines to it); absent in unit tests. */
  stepRunId?: StepRunId | null;
  /**
   * W3C traceparent for what the step calls: its attempt's span (tracing on), else that of
   * whatever started the run; null when neither exists.
   */
  traceparent: string | null;
  /** The run input: `{ body, headers, query }` for webhooks, the given input otherwise. */
  trigger: unknown;
  /** Outputs of the steps that ran before this one, by step id. */
  steps: Record<string, { output: unknown }>;
  runStartedAt: Date;
  /** Inside a forEach body: the current item and its index (`{{ loop.item }}`). */
  loop?: { item: unknown; index: number } | null;
  /** After an `onError: { goto }` and on the onFailure path: the failure (`{{ error }}`). */
  error?: { code: string; message: string; stepId: string } | null;
};

/**
 * The mapping language evaluated in-process, for the engine's control steps (a switch's
 * `when`, waitUntil's `until`, a control step's `if`...): the runner's evaluator, wired by the
 * composition root (the engine does not import the runner). Throws a SwitchyardError
 * (E_MAPPING_INVALID...) when a reference does not resolve.
 */
export interface MappingEvaluator {
  resolve(template: unknown, context: StepContext): unknown;
  condition(expression: string, context: StepContext): boolean;
}

/**
 * `<run>:<step>`, the base of a step's outgoing idempotency keys (Idempotency-Key, webhook ids).
 * A replay keeps its original run's, so that an upstream that already took the original call
 * can drop the replay's.
 */
export function idempotencyBaseOf(
  context: Pick<StepContext, 'runId' | 'originRunId' | 'stepId'>,
): string {
  return `${context.originRunId ?? context.runId}:${context.stepId}`;
}

export type StepError = {
  /** A code from the error registry (model/errors.ts), e.g. E_STEP_TIMEOUT. */
  code: string;
  message: string;
  retryable: boolean;
  /** From a Retry-After answer: the earliest moment a retry may run. */
  retryAfterMs?: number;
};

export type StepRequest = {
  step: StepDefinition;
  action: ActionSpec;
  context: StepContext;
};

export type StepResult =
  | { status: 'succeeded'; input: unknown; output: unknown }
  | { status: 'skipped' }
  | { status: 'failed'; input?: unknown; error: StepError };

/** Executes one attempt of one step. The signal aborts on cancel, lease loss or shutdown. */
export interface StepExecutor {
  execute(request: StepRequest, signal: AbortSignal): Promise<StepResult>;
}

/** Where a step's log lines go (the execution log); data is scrubbed of secrets first. */
export type ExecutionLogLine = {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data?: unknown;
};

/**
 * Codes with which the runner hands a step back without having run it: the action's rate
 * limit is reached (E_RATE_LIMITED) or the host's circuit breaker is open (E_CIRCUIT_OPEN).
 * Both are retryable and carry `retryAfterMs`; the engine reschedules the step for then
 * without counting an attempt against `maxAttempts`, even for retryStrategy 'none'.
 */
export const deferralCodes: readonly string[] = ['E_RATE_LIMITED', 'E_CIRCUIT_OPEN'];

export function isDeferral(error: StepError): boolean {
  return deferralCodes.includes(error.code);
}
