import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { errorCodes, isSwitchyardError, type ErrorCode } from '../../model/errors.ts';
import type { Logger } from '../../observability/logger.ts';

/**
 * Every GraphQL error leaves with a stable `extensions.code` from the registry. Our own errors
 * keep their message (it says what to fix); anything unexpected is masked as E_INTERNAL and
 * logged with the request id, so no internal detail (or secret) reaches the caller.
 *
 * GraphQL errors are recognised by shape, not `instanceof`: the graphql package ships CJS and
 * ESM builds, and libraries may load the other one (two GraphQLError classes in one process).
 */
type GraphQLErrorLike = Error & {
  originalError?: unknown;
  extensions?: Record<string, unknown>;
  nodes?: GraphQLError['nodes'];
  path?: GraphQLError['path'];
};

function isGraphQLErrorLike(e: unknown): e is GraphQLErrorLike {
  return e instanceof Error && e.name === 'GraphQLError';
}

export function createErrorMasker(logger: Logger) {
  return (error: unknown, _message: string): Error => {
    let original: unknown = error;
    while (isGraphQLErrorLike(original) && original.originalError)
      original = original.originalError;
    const located = isGraphQLErrorLike(error) ? locationOf(error) : {};
    if (isSwitchyardError(original)) {
      return new GraphQLError(original.message, {
        ...located,
        extensions: { code: original.code, ...publicDetails(original.code, original.details) },
      });
    }
    if (isGraphQLErrorLike(original)) {
      const code = original.extensions?.code;
      if (typeof code === 'string' && code in errorCodes) {
        return new GraphQLError(original.message, {
          ...located,
          extensions: { ...original.extensions, code },
        });
      }
      // The document itself was rejected (parse, validation, CSRF): the message is for the caller.
      const mapped: ErrorCode = /CSRF/.test(original.message) ? 'E_CSRF' : 'E_VALIDATION';
      return new GraphQLError(original.message, {
        ...located,
        extensions: { ...original.extensions, code: mapped },
      });
    }
    logger.error({ err: original }, 'unexpected error in a GraphQL resolver');
    return new GraphQLError('Internal error.', { ...located, extensions: { code: 'E_INTERNAL' } });
  };
}

/**
 * The registry code an error leaves with, as the masker decides it (without logging): the
 * access history records it, and it runs before the masker does.
 */
export function errorCodeOf(error: unknown): ErrorCode {
  let original: unknown = error;
  while (isGraphQLErrorLike(original) && original.originalError) original = original.originalError;
  if (isSwitchyardError(original)) return original.code;
  if (isGraphQLErrorLike(original)) {
    const code = original.extensions?.code;
    if (typeof code === 'string' && code in errorCodes) return code as ErrorCode;
    return /CSRF/.test(original.message) ? 'E_CSRF' : 'E_VALIDATION';
  }
  return 'E_INTERNAL';
}

/** Only details meant for callers (the field that is wrong, when to retry). */
function publicDetails(
  code: ErrorCode,
  details: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof details.field === 'string') out.field = details.field;
  if (typeof details.retryAfterMs === 'number') out.retryAfterMs = details.retryAfterMs;
  if (errorCodes[code].retryable) out.retryable = true;
  return out;
}

function locationOf(error: GraphQLErrorLike): {
  nodes?: NonNullable<GraphQLError['nodes']>;
  path?: NonNullable<GraphQLError['path']>;
} {
  return {
    ...(error.nodes ? { nodes: error.nodes } : {}),
    ...(error.path ? { path: error.path } : {}),
  };
}

/**
 * Errors that never reach the masker (parse and validation failures, refused requests) get a
 * registry code too: every error of every answer carries one.
 */
export function registryCodesPlugin(): Plugin {
  return {
    onResultProcess(payload) {
      const result = payload.result;
      if (
        !result ||
        typeof result !== 'object' ||
        !('errors' in result) ||
        !Array.isArray(result.errors)
      )
        return;
      const errors = result.errors as GraphQLErrorLike[];
      if (
        errors.every(
          (e) => typeof e.extensions?.code === 'string' && e.extensions.code in errorCodes,
        )
      )
        return;
      payload.setResult({
        ...result,
        errors: errors.map((e): GraphQLError => {
          const code = e.extensions?.code;
          if (typeof code === 'string' && code in errorCodes) return e as GraphQLError;
          const mapped: ErrorCode = /CSRF/.test(e.message) ? 'E_CSRF' : 'E_VALIDATION';
          return new GraphQLError(e.message, {
            ...locationOf(e),
            extensions: { ...e.extensions, code: mapped },
          });
        }),
      });
    },
  };
}
