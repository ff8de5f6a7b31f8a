import { ApiError } from '~/graphql/client';

/** One line for an error shown next to an action: the server's message and registry code. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : 'Something went wrong.';
}

/** The registry code of an error, when the server sent one. */
export function errorCode(err: unknown): string | null {
  return err instanceof ApiError ? err.code : null;
}
