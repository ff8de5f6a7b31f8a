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
