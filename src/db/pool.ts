import pg from 'pg';
import { coalesceWrites } from './pipeline.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { Logger } from '../observability/logger.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything that runs one statement: a pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

// int8 (bigint) ids and counts fit in a JS number for any realistic volume; numeric stays text.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export type PoolOptions = {
  url: string;
  max: number;
  connectTimeoutMs: number;
  applicationName: string;
  logger: Logger;
  /** false: statement names are dropped (a transaction pooler cannot keep them). Default true. */
  preparedStatements?: boolean;
};

export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    application_name: opts.applicationName,
    idleTimeoutMillis: 30_000,
    // A statement is sent without waiting for the one before it to be answered (still one at
    // a time on the server, in order): withTenant's BEGIN goes with its first statement, and
    // tenantStatements' BEGIN, statement and COMMIT go in one round trip (db/tenant.ts).
    pipeline: true,
  });
  // An idle client that loses its server (restart, failover) must not crash the process;
  // the pool drops it and the next checkout opens a fresh connection.
  pool.on('error', (err) =>
    opts.logger.warn({ err: describePgError(err) }, 'idle database client error'),
  );
  // A checked-out client whose connection dies (a restart in the middle of a transaction)
  // emits 'error' too, and the pool only listens while clients are idle: without this the
  // process would crash. The query in flight still fails and withTenant() discards the client.
  pool.on('connect', (client) => {
    coalesceWrites(client);
    if (opts.preparedStatements === false) unnameStatements(client);
    client.on('error', (err) =>
      opts.logger.warn(
        { err: describePgError(err) },
        'database connection lost during a transaction',
      ),
    );
  });
  return pool;
}

/**
 * The queries of db/queries name their hot statements so that PostgreSQL parses and plans them
 * once per connection. Behind PgBouncer in transaction pooling mode (before 1.21, or with
 * max_prepared_statements = 0) the next transaction may run on another server connection,
 * where that name was never prepared ("prepared statement ... does not exist"). Here every
 * statement is sent unnamed instead: parsed each time, correct on any server connection.
 */
function unnameStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
    const [first, ...rest] = args;
    if (first && typeof first === 'object' && 'name' in first && !('submit' in first)) {
      const { name: _name, ...unnamed } = first as { name?: string };
      return query(unnamed, ...rest);
    }
    return query(...args);
  };
}

/** Host and port of a connection URL, for error messages (never the password). */
export function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    const socketDir = u.searchParams.get('host');
    return socketDir?.startsWith('/')
      ? `${socketDir}/.s.PGSQL.${u.port || '5432'}`
      : `${u.hostname || 'localhost'}:${u.port || '5432'}`;
  } catch {
    return '(unparseable URL)';
  }
}

export function describePgError(err: unknown): { message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? { message: err.message, code } : { message: err.message };
  }
  return { message: String(err) };
}

/**
 * A client of its own for one start-up task (the migrations, the role set-up, a reachability
 * probe). A connection that ends under it (a PostgreSQL restart) fails the statement in
 * flight, which start-up retries (retryWhileUnreachable); without a listener pg's 'error'
 * event would also end the process.
 */
export function startupClient(config: pg.ClientConfig): pg.Client {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  return client;
}

/**
 * Waits until the database answers, retrying with capped exponential backoff; after
 * `retryForMs` it gives up with an error naming host and port.
 */
export async function waitForDatabase(
  url: string,
  opts: { retryForMs: number; connectTimeoutMs: number; logger: Logger },
): Promise<void> {
  const deadline = Date.now() + opts.retryForMs;
  let delayMs = 100;
  let lastError: unknown;
  for (let attempt = 1; ; attempt++) {
    const client = startupClient({
      connectionString: url,
      connectionTimeoutMillis: opts.connectTimeoutMs,
    });
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (err) {
      lastError = err;
      if (Date.now() + delayMs > deadline) break;
      opts.logger.warn(
        { target: describeTarget(url), attempt, err: describePgError(err) },
        'database not reachable yet; retrying',
      );
      await new Promise((r) => setTimeout(r, delayMs));
      delayMs = Math.min(delayMs * 2, 5_000);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  throw new SwitchyardError(
    'E_DB_UNREACHABLE',
    `Cannot reach PostgreSQL at ${describeTarget(url)}: ${describePgError(lastError).message}. ` +
      'Check DATABASE_URL and that the server is running.',
    { target: describeTarget(url) },
    lastError,
  );
}

const connectionErrorCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '53300']);

/**
 * Did the database (or the way to it) fail, rather than the statement? Connection classes 08,
 * shutdown 57P01–57P03, too many connections, socket errors and pg's own pool timeouts: the
 * work can be retried later, nothing was committed.
 */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || /^57P0[123]$/.test(code))) return true;
  if (typeof code === 'string' && connectionErrorCodes.has(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    err.message,
  );
}

/**
 * Runs a start-up check, again while the database cannot be reached (a restart between the
 * wait for it and this check), until `retryForMs` has passed: a process started during a
 * PostgreSQL restart waits for it instead of exiting.
 */
export async function retryWhileUnreachable<T>(
  fn: () => Promise<T>,
  opts: { retryForMs: number; logger: Logger; what: string },
): Promise<T> {
  const deadline = Date.now() + opts.retryForMs;
  let delayMs = 100;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isConnectionError(err) || Date.now() + delayMs > deadline) throw err;
      opts.logger.warn(
        { err: describePgError(err) },
        `${opts.what}: database not reachable; retrying`,
      );
      await new Promise((r) => setTimeout(r, delayMs));
      delayMs = Math.min(delayMs * 2, 5_000);
    }
  }
}
