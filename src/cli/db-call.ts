import { SwitchyardError, isSwitchyardError } from '../model/errors.ts';

/**
 * A store call that met the database failing (a restart, a lost connection, a revoked grant)
 * becomes E_DB_UNREACHABLE: retryable, so the attempt is retried rather than the run failed.
 * What the store itself decided (a SwitchyardError) passes as it is.
 */
export async function dbCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isSwitchyardError(err)) throw err;
    const code = (err as { code?: unknown })?.code;
    throw new SwitchyardError(
      'E_DB_UNREACHABLE',
      `The database failed ${what}${typeof code === 'string' ? ` (${code})` : ''}: ${(err as Error)?.message ?? String(err)}`,
    );
  }
}
