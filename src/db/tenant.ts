import type pg from 'pg';
import { SwitchyardError } from '../model/errors.ts';
import { isUuid, type TenantId, type UserId } from '../model/ids.ts';
import { systemPoolOf } from './system-pool.ts';
import type { Queryable } from './pool.ts';

/**
 * Runs `fn` in a transaction whose tenant is set first. The setting is transaction-local
 * (`set_config(..., true)`), so a pooled connection never carries it into other work; RLS
 * then hides every other tenant's rows even from a query that forgot its WHERE clause.
 */
export async function withTenant<T>(
  pool: pg.Pool,
  tenantId: TenantId,
  fn: (client: pg.PoolClient) => Promise<T>,
  opts: { userId?: UserId } & PlanOptions = {},
): Promise<T> {
  if (!isUuid(tenantId))
    throw new SwitchyardError('E_TENANT_REQUIRED', `Not a tenant id: ${tenantId}`);
  if (opts.userId !== undefined && !isUuid(opts.userId)) {
    throw new SwitchyardError('E_TENANT_REQUIRED', `Not a user id: ${opts.userId}`);
  }
  return inTransaction(
    pool,
    fn,
    settings({ 'app.tenant_id': tenantId, 'app.user_id': opts.userId ?? '', ...plans(opts) }),
  );
}

export type PlanOptions = {
  /**
   * The transaction's prepared statements run their generic plan, made once per connection
   * (and again when a table's statistics change), instead of a plan made for each call's
   * values. For the engine's hot statements, whose plan does not depend on the values (keys,
   * arrays of keys, `now`): PostgreSQL kept planning the claim at every call, and the planning
   * cost 4 times its execution (bench/RESULTS.md, round five).
   */
  genericPlans?: boolean;
};

function plans(opts: PlanOptions): Record<string, string> {
  return opts.genericPlans ? { plan_cache_mode: 'force_generic_plan' } : {};
}

/**
 * Runs `fn` in a transaction with the system scope: only the tables whose policies name it
 * (the queue, due cron and webhook triggers, data keys for rotation, the tenant list) are
 * visible across tenants. For engine, retention and key-rotation internals only.
 *
 * The transaction runs on the *system pool* of `pool` (the system login role, a member of
 * switchyard_system), never on the runtime pool itself: the runtime role cannot open the system
 * scope, whatever it sets (migration 0007, docs/adr/0008-system-scope.md). `pool` may be the
 * runtime pool (its system pool is found, see systemPoolOf) or a system pool.
 */
export async function withSystem<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return inTransaction(systemPoolOf(pool), fn, settings({ 'app.scope': 'system' }));
}

/**
 * A `Queryable` whose every statement runs in a transaction of its own, with the tenant set
 * first (as withTenant): on a pipelined connection BEGIN with the settings, the statement and
 * COMMIT leave together and come back in one round trip instead of three. For hot statements
 * that need nothing else in their transaction (the run intake's batch).
 */
export function tenantStatements(
  pool: pg.Pool,
  tenantId: TenantId,
  opts: {
    /**
     * The run-change triggers stay silent (migrations 0016, 0036): the caller sends the changes
     * once committed (engine/run-changes.ts), so that its commit takes no notification lock.
     */
    callerSendsRunChanges?: boolean;
  } & PlanOptions = {},
): Queryable {
  if (!isUuid(tenantId))
    throw new SwitchyardError('E_TENANT_REQUIRED', `Not a tenant id: ${tenantId}`);
  const set = settings({
    'app.tenant_id': tenantId,
    'app.user_id': '',
    ...(opts.callerSendsRunChanges ? { 'switchyard.run_changes': 'caller' } : {}),
    ...plans(opts),
  });
  return statementsIn(pool, set);
}

function statementsIn(pool: pg.Pool, set: pg.QueryConfig): Queryable {
  return {
    // BEGIN goes with the statement (inTransaction), and COMMIT behind it (lastStatement): a
    // failed statement leaves the transaction aborted, and that COMMIT then rolls it back.
    query: ((text: string | pg.QueryConfig, values?: unknown[]) =>
      inTransaction(
        pool,
        (client) =>
          lastStatement(client, (db) =>
            typeof text === 'string' ? db.query(text, values) : db.query(text),
          ),
        set,
      )) as Queryable['query'],
  };
}

/**
 * A `Queryable` whose every statement runs in a transaction of its own with the system scope
 * (as withSystem, on the system pool), in one round trip on a pipelined connection (see
 * tenantStatements). For hot statements that need nothing else in their transaction (claims).
 */
export function systemStatements(pool: pg.Pool, opts: PlanOptions = {}): Queryable {
  const system = systemPoolOf(pool);
  return statementsIn(system, settings({ 'app.scope': 'system', ...plans(opts) }));
}

/** Runs `fn` in a transaction as a user with no tenant: sees only the user's own memberships. */
export async function withUser<T>(
  pool: pg.Pool,
  userId: UserId,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  if (!isUuid(userId)) throw new SwitchyardError('E_TENANT_REQUIRED', `Not a user id: ${userId}`);
  return inTransaction(pool, fn, settings({ 'app.user_id': userId }));
}

/**
 * The transaction-local settings, as a prepared statement of the connection: sent with BEGIN
 * (inTransaction), so both cost no round trip of their own. Named by its settings' names, it is
 * parsed and planned once per connection and then only bound and run; the values travel as
 * parameters (only uuids, checked above, and fixed words reach here anyway). This is the hot
 * path of every tenant request: as one simple-protocol query (`begin; select set_config(…)`
 * with the values inlined) PostgreSQL parsed and planned it for every transaction.
 */
function settings(values: Record<string, string>): pg.QueryConfig {
  const names = Object.keys(values);
  for (const [k, v] of Object.entries(values))
    if (!/^[a-z_.]+$/.test(k) || !/^[0-9a-z_-]*$/i.test(v)) throw new Error(`unsafe setting ${k}`);
  const key = names.join(',');
  let statement = settingStatements.get(key);
  if (!statement) {
    statement = {
      name: `sy_settings_${settingStatements.size}`,
      text: `select ${names.map((k, i) => `set_config('${k}', $${i + 1}, true)`).join(', ')}`,
    };
    settingStatements.set(key, statement);
  }
  return { ...statement, values: Object.values(values) };
}

/** One prepared statement per set of setting names (a handful: the callers above). */
const settingStatements = new Map<string, { name: string; text: string }>();

/** Clients whose transaction lastStatement() committed: inTransaction commits nothing more. */
const committedEarly = new WeakSet<object>();

/**
 * Runs `fn`'s statement as the last of the transaction `db` is in (withTenant's, withSystem's
 * client), with COMMIT sent right behind it on a pipelined connection: one round trip fewer.
 * When this resolves the transaction is committed, and nothing more may be sent in it; when it
 * throws, nothing of the transaction was kept. Elsewhere (not a pipelined client) it only runs
 * `fn`, and the transaction commits as usual.
 */
export async function lastStatement<T>(
  db: Queryable,
  fn: (db: Queryable) => Promise<T>,
): Promise<T> {
  if (!(db as Partial<pg.PoolClient>).pipeline) return fn(db);
  const client = db as pg.PoolClient;
  let commit: Promise<unknown> | undefined;
  const once = {
    query: ((...args: Parameters<pg.PoolClient['query']>) => {
      if (commit) throw new Error('lastStatement() sends one statement');
      const result = (client.query as (...a: unknown[]) => unknown)(...args);
      // A failed statement leaves the transaction aborted: this COMMIT then rolls it back.
      commit = client.query('commit');
      committedEarly.add(client);
      return result;
    }) as Queryable['query'],
  };
  try {
    const result = await fn(once);
    await commit;
    return result;
  } catch (err) {
    await commit?.catch(() => undefined);
    throw err;
  }
}

async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  settings: pg.QueryConfig,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    let result: T;
    if (client.pipeline) {
      // BEGIN, the settings and fn's first statement leave together (one round trip fewer).
      // All are settled before anything else: fn never outlives the transaction. BEGIN and
      // the settings fail only with the connection (or an aborted transaction left on it), and
      // then fn's statement behind them fails too; were it to run without them, row security
      // would show it no tenant's rows.
      const [began, set, done] = await Promise.allSettled([
        client.query('begin'),
        client.query(settings),
        fn(client),
      ]);
      if (began.status === 'rejected') throw began.reason;
      if (set.status === 'rejected') throw set.reason;
      if (done.status === 'rejected') throw done.reason;
      result = done.value;
    } else {
      await client.query('begin');
      await client.query(settings);
      result = await fn(client);
    }
    if (!committedEarly.delete(client)) await client.query('commit');
    return result;
  } catch (err) {
    committedEarly.delete(client);
    try {
      await client.query('rollback');
    } catch {
      // The connection itself failed: do not return it to the pool.
      broken = true;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
