/**
 * The system pool that goes with a runtime pool. System work (claims, cron, retention's tenant
 * list, key rotation, webhook routing) logs in as the system role, a member of
 * switchyard_system; tenant work stays on the runtime role, which cannot open the system scope.
 *
 * withSystem(pool, fn) keeps its signature: its callers pass the runtime pool they already have
 * and the system pool is found here. openDatabase() binds the two explicitly (DATABASE_SYSTEM_URL
 * or the derived role). A pool made from a runtime URL elsewhere (tests, benchmarks, a one-off
 * script) gets a system pool derived from that URL on first use: `<user>_system` with the
 * derived password (db/roles.ts), which is what ensureAppRole() creates.
 */
import pg from 'pg';
import { coalesceWrites } from './pipeline.ts';
import { deriveSystemUrl } from './roles.ts';

const systemOf = new WeakMap<pg.Pool, pg.Pool>();
const systemPools = new WeakSet<pg.Pool>();

/** Declares `system` as the system pool of `runtime` (and as a system pool). */
export function bindSystemPool(runtime: pg.Pool, system: pg.Pool): void {
  systemOf.set(runtime, system);
  systemPools.add(system);
}

/** The system pool of `pool`, or `pool` itself when it is one. */
export function systemPoolOf(pool: pg.Pool): pg.Pool {
  if (systemPools.has(pool)) return pool;
  let system = systemOf.get(pool);
  if (!system) {
    system = deriveSystemPool(pool);
    bindSystemPool(pool, system);
  }
  return system;
}

function deriveSystemPool(runtime: pg.Pool): pg.Pool {
  const { connectionString, max, connectionTimeoutMillis, application_name } = runtime.options;
  if (!connectionString) {
    throw new Error('withSystem(): this pool has no system pool and no URL to derive one from');
  }
  const system = new pg.Pool({
    connectionString: deriveSystemUrl(connectionString),
    max: Math.max(2, Math.ceil((max ?? 10) / 2)),
    ...(connectionTimeoutMillis === undefined ? {} : { connectionTimeoutMillis }),
    ...(application_name === undefined ? {} : { application_name }),
    idleTimeoutMillis: 30_000,
    // Never what keeps a process alive: it was not opened by whoever ends the runtime pool.
    allowExitOnIdle: true,
    // As createPool's: withSystem and systemStatements save round trips (db/tenant.ts).
    pipeline: true,
  });
  // Same reasoning as createPool(): a lost idle connection is dropped, not a crash. The query
  // in flight (if any) still fails and withSystem() discards its client.
  system.on('error', () => undefined);
  system.on('connect', (client) => {
    coalesceWrites(client);
    client.on('error', () => undefined);
  });
  // Ending the runtime pool ends the system pool made for it.
  const endRuntime = runtime.end.bind(runtime);
  runtime.end = async () => {
    await system.end().catch(() => undefined);
    return endRuntime();
  };
  return system;
}
