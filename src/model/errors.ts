/**
 * The one registry of error codes. Every error that leaves Switchyard (CLI, HTTP, GraphQL,
 * step results) carries one of these codes; docs/api.md documents each (a test checks it).
 */
export const errorCodes = {
  E_CONFIG_INVALID: { httpStatus: 500, retryable: false, message: 'Configuration is invalid' },
  E_DB_UNREACHABLE: { httpStatus: 503, retryable: true, message: 'The database cannot be reached' },
  E_DB_ROLE_PRIVILEGED: {
    httpStatus: 500,
    retryable: false,
    message: 'The runtime database role must not own tables, be superuser or bypass RLS',
  },
  E_DB_ROLE_MISCONFIGURED: {
    httpStatus: 500,
    retryable: false,
    message: 'The system database role is not set up',
  },
  E_MIGRATION_EDITED: {
    httpStatus: 500,
    retryable: false,
    message: 'An applied migration was edited',
  },
  E_MIGRATION_UNKNOWN: {
    httpStatus: 500,
    retryable: false,
    message: 'The database has a migration this build does not know',
  },
  E_EMBEDDED_PG_FAILED: {
    httpStatus: 500,
    retryable: false,
    message: 'The embedded PostgreSQL could not start',
  },
  E_DATA_DIR_NOT_WRITABLE: {
    httpStatus: 500,
    retryable: false,
    message: 'The data directory is not writable',
  },
  E_PORT_IN_USE: { httpStatus: 500, retryable: false, message: 'The port is already in use' },
  E_TENANT_REQUIRED: { httpStatus: 500, retryable: false, message: 'A tenant id is required' },
  E_VALIDATION: { httpStatus: 400, retryable: false, message: 'The input is invalid' },
  E_NOT_FOUND: { httpStatus: 404, retryable: false, message: 'Not found' },
  E_CONFLICT: { httpStatus: 409, retryable: false, message: 'Conflict' },
  E_INTERNAL: { httpStatus: 500, retryable: false, message: 'Internal error' },
  // Product API (accounts, roles, limits)
  E_UNAUTHENTICATED: {
    httpStatus: 401,
    retryable: false,
    message: 'Sign in or send a valid API token',
  },
  E_FORBIDDEN: { httpStatus: 403, retryable: false, message: 'Your role does not allow this' },
  E_ROLE_TOO_HIGH: {
    httpStatus: 403,
    retryable: false,
    message: 'A role above your own cannot be granted',
  },
  E_LAST_OWNER: { httpStatus: 409, retryable: false, message: 'A tenant keeps at least one owner' },
  E_INVITATION_INVALID: {
    httpStatus: 404,
    retryable: false,
    message: 'The invitation is invalid, expired, revoked or used',
  },
  E_SETUP_DONE: { httpStatus: 409, retryable: false, message: 'Switchyard is already set up' },
  E_SIGN_IN_THROTTLED: {
    httpStatus: 429,
    retryable: true,
    message: 'Too many failed sign-ins; try again later',
  },
  E_TOO_MANY_REQUESTS: {
    httpStatus: 429,
    retryable: true,
    message: 'Request rate limit reached; retry after the given time',
  },
  E_TOO_MANY_SUBSCRIPTIONS: {
    httpStatus: 503,
    retryable: true,
    message: 'This API process has as many open subscriptions as it serves; retry later',
  },
  E_QUERY_TOO_COMPLEX: {
    httpStatus: 400,
    retryable: false,
    message: 'The GraphQL query is too deep or too costly',
  },
  E_WEBHOOK_SIGNATURE: {
    httpStatus: 401,
    retryable: false,
    message: 'The webhook is unsigned or its signature does not verify',
  },
  E_PAYLOAD_TOO_LARGE: {
    httpStatus: 413,
    retryable: false,
    message: 'The request body is too large',
  },
  E_WEBHOOK_SECRET_UNREADABLE: {
    httpStatus: 500,
    retryable: false,
    message: 'The webhook’s stored signing secret cannot be decrypted; rotate it',
  },
  E_MAIL_UNAVAILABLE: {
    httpStatus: 503,
    retryable: true,
    message: 'The mail server did not accept the message',
  },
  E_CSRF: {
    httpStatus: 403,
    retryable: false,
    message: 'Cookie-authenticated requests need a CSRF-safe header',
  },
  // The workflow engine (src/engine): starting runs, backpressure, attempts.
  E_IDEMPOTENCY_CONFLICT: {
    httpStatus: 409,
    retryable: false,
    message: 'The idempotency key was already used with another payload',
  },
  E_QUEUE_OVERLOADED: {
    httpStatus: 503,
    retryable: true,
    message: 'The run queue is deeper than its limit; retry after the delay given',
  },
  E_TENANT_OVERLOADED: {
    httpStatus: 429,
    retryable: true,
    message: "The tenant's run queue is deeper than its limit; retry after the delay given",
  },
  E_WORKFLOW_NOT_PUBLISHED: {
    httpStatus: 409,
    retryable: false,
    message: 'The workflow has no published version (or is archived)',
  },
  E_RUN_NOT_FOUND: { httpStatus: 404, retryable: false, message: 'The run does not exist' },
  E_ACTION_NOT_FOUND: {
    httpStatus: 422,
    retryable: false,
    message: 'A step references an action that does not exist',
  },
  E_STEP_TIMEOUT: {
    httpStatus: 504,
    retryable: true,
    message: "The step did not finish within its action's timeout",
  },
  E_WORKER_LOST: {
    httpStatus: 503,
    retryable: true,
    message: 'The worker running the step stopped before it finished',
  },
  E_WORKER_LOST_REPEATEDLY: {
    httpStatus: 503,
    retryable: true,
    message: "The step's worker was lost more times than the infrastructure retry bound",
  },
  E_RUN_CANCELED: { httpStatus: 409, retryable: false, message: 'The run was canceled' },
  E_EXECUTOR_CRASHED: {
    httpStatus: 500,
    retryable: true,
    message: 'The step executor threw instead of returning a result',
  },
  E_RUNNER_UNAVAILABLE: {
    httpStatus: 503,
    retryable: false,
    message: 'No step runner is installed in this process',
  },
  // Envelope encryption (src/security). Messages never carry plaintext or key bytes.
  E_KMS_UNAVAILABLE: {
    httpStatus: 503,
    retryable: true,
    message: 'The key provider (KMS) cannot be reached or is sealed',
  },
  E_KMS_REJECTED: {
    httpStatus: 500,
    retryable: false,
    message: 'The key provider refused the request (permissions, unknown key or key version)',
  },
  E_HTTPS_REQUIRED: {
    httpStatus: 403,
    retryable: false,
    message: 'This server accepts HTTPS only (REQUIRE_HTTPS)',
  },
  E_SECRET_DECRYPT_FAILED: {
    httpStatus: 500,
    retryable: false,
    message: 'A stored secret failed authentication: it was altered or belongs to another record',
  },
  // Step execution (src/runner). Retryable ones may carry retryAfterMs in the StepError.
  E_MAPPING_PATH_MISSING: {
    httpStatus: 422,
    retryable: false,
    message: 'A mapping references a path that does not exist',
  },
  E_MAPPING_INVALID: { httpStatus: 422, retryable: false, message: 'A mapping is malformed' },
  E_STEP_INPUT_INVALID: {
    httpStatus: 422,
    retryable: false,
    message: "The step input does not match the action's input schema",
  },
  E_STEP_OUTPUT_INVALID: {
    httpStatus: 502,
    retryable: false,
    message: "The step output does not match the action's output schema",
  },
  E_ACTION_INVALID: {
    httpStatus: 422,
    retryable: false,
    message: 'The action definition is invalid',
  },
  E_CONNECTION_INVALID: {
    httpStatus: 422,
    retryable: false,
    message: 'The connection is missing or lacks a field its auth kind needs',
  },
  E_CONNECTION_NEEDS_REAUTH: {
    httpStatus: 422,
    retryable: false,
    message: 'The OAuth connection must be connected again (its refresh token was refused)',
  },
  E_OAUTH_STATE_INVALID: {
    httpStatus: 400,
    retryable: false,
    message: 'The OAuth state is unknown, forged, or was issued to another session or tenant',
  },
  E_OAUTH_STATE_EXPIRED: {
    httpStatus: 400,
    retryable: false,
    message: 'The OAuth state has expired: start Connect again',
  },
  E_OAUTH_STATE_USED: {
    httpStatus: 400,
    retryable: false,
    message: 'The OAuth state was already used: start Connect again',
  },
  E_OAUTH_DENIED: {
    httpStatus: 400,
    retryable: false,
    message: 'The authorization server did not grant access',
  },
  E_OAUTH_EXCHANGE_FAILED: {
    httpStatus: 502,
    retryable: false,
    message: 'The token endpoint refused to exchange the authorization code',
  },
  E_UPSTREAM_REJECTED: {
    httpStatus: 502,
    retryable: false,
    message: 'The external API rejected the request (4xx)',
  },
  E_UPSTREAM_UNAVAILABLE: {
    httpStatus: 503,
    retryable: true,
    message: 'The external API is unavailable (408, 429 or 5xx)',
  },
  E_NETWORK: { httpStatus: 502, retryable: true, message: 'The external API cannot be reached' },
  E_GATE_TIMEOUT: {
    httpStatus: 504,
    retryable: true,
    message: 'An outgoing request timed out',
  },
  E_GATE_BLOCKED: {
    httpStatus: 403,
    retryable: false,
    message: 'The outgoing request was blocked by the gate',
  },
  E_GATE_TOO_MANY_REDIRECTS: {
    httpStatus: 502,
    retryable: false,
    message: 'The outgoing request was redirected too many times',
  },
  E_GATE_RESPONSE_TOO_LARGE: {
    httpStatus: 502,
    retryable: false,
    message: 'The response is larger than the gate allows',
  },
  E_RATE_LIMITED: {
    httpStatus: 429,
    retryable: true,
    message: "The action's rate limit is reached; the step waits for its slot",
  },
  E_CIRCUIT_OPEN: {
    httpStatus: 503,
    retryable: true,
    message: 'The circuit breaker for this host and connection is open',
  },
  E_CODE_ERROR: { httpStatus: 422, retryable: false, message: 'The code step threw an error' },
  E_CODE_FORBIDDEN: {
    httpStatus: 422,
    retryable: false,
    message: 'The code step used something code steps may not use',
  },
  E_CODE_TIMEOUT: {
    httpStatus: 422,
    retryable: false,
    message: 'The code step ran longer than its time limit',
  },
  E_CODE_MEMORY_LIMIT: {
    httpStatus: 422,
    retryable: false,
    message: 'The code step used more memory than its limit',
  },
  E_PYTHON_UNAVAILABLE: {
    httpStatus: 500,
    retryable: false,
    message: 'python3 is not installed on this worker',
  },
  E_PYTHON_SANDBOX_UNAVAILABLE: {
    httpStatus: 500,
    retryable: false,
    message:
      'Python steps are refused on this worker: its sandbox (bubblewrap) is missing or failed its start-time self-check',
  },
  E_STEP_CANCELED: {
    httpStatus: 499,
    retryable: true,
    message: 'The step was aborted (cancel, lease loss or shutdown)',
  },
  // Data retention (src/retention).
  E_RETENTION_INCOMPLETE: {
    httpStatus: 500,
    retryable: true,
    message: 'Retention could not finish for some tenants or tables; the next run retries them',
  },
  // Testing drafts before publishing (testWorkflow, testStep; docs/workflows.md)
  E_NO_TRIGGER_SAMPLE: {
    httpStatus: 409,
    retryable: false,
    message: 'The trigger has no sample to test with yet',
  },
  // OpenAPI import (catalog/openapi/).
  E_OPENAPI_INVALID: {
    httpStatus: 400,
    retryable: false,
    message: 'The OpenAPI document cannot be imported',
  },
  E_OPENAPI_FETCH_FAILED: {
    httpStatus: 502,
    retryable: false,
    message: 'The OpenAPI document could not be fetched from its URL',
  },
  // Waits and child runs of definition version 2 (engine/resume.ts, engine/control/).
  E_WAIT_TOKEN_INVALID: {
    httpStatus: 401,
    retryable: false,
    message: 'The wait token does not open this run and step',
  },
  E_WAIT_NOT_STARTED: {
    httpStatus: 409,
    retryable: true,
    message: 'The run has not reached this wait yet',
  },
  E_WAIT_NOT_WAITING: {
    httpStatus: 409,
    retryable: false,
    message: 'The step is no longer waiting (resumed already, timed out, or the run ended)',
  },
  E_WAIT_TIMEOUT: {
    httpStatus: 504,
    retryable: false,
    message: 'The wait for an event timed out',
  },
  E_CHILD_RUN_FAILED: {
    httpStatus: 502,
    retryable: false,
    message: 'The child run of a callWorkflow step did not succeed',
  },
  E_CALL_DEPTH_EXCEEDED: {
    httpStatus: 422,
    retryable: false,
    message: 'Workflows calling workflows went too deep',
  },
} as const satisfies Record<string, ErrorCodeSpec>;

export interface ErrorCodeSpec {
  /** HTTP status the API answers with. */
  httpStatus: number;
  /** Whether the same operation may succeed when retried later. */
  retryable: boolean;
  /** Default human message; instances add what to fix. */
  message: string;
}

export type ErrorCode = keyof typeof errorCodes;

/** An error with a stable code from the registry and a message that says what to fix. */
export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message?: string,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ) {
    super(message ?? errorCodes[code].message, cause === undefined ? undefined : { cause });
    this.name = 'SwitchyardError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return errorCodes[this.code].httpStatus;
  }

  get retryable(): boolean {
    return errorCodes[this.code].retryable;
  }
}

export function isSwitchyardError(e: unknown, code?: ErrorCode): e is SwitchyardError {
  return e instanceof SwitchyardError && (code === undefined || e.code === code);
}

/** Exhaustiveness guard for `switch` statements over unions. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${String(value)}`);
}
