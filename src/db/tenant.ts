import type pg from 'pg';
import { SwitchyardError } from '../model/errors.ts';
import { isUuid, type TenantId, type UserId } from '../model/ids.ts';

/**
 * Runs `fn` in a transaction whose tenant is set first. The setting is transaction-local
 * (`set_config(..., true)`), so a pooled connection never carries it into other work; RLS
 * then hides every other tenant's rows even from a query that forgot its WHERE clause.
 */
export async function withTenant<T>(
  pool: pg.Pool,
  tenantId: TenantId,
  fn: (client: pg.PoolClient) => Promise<T>,
  opts: { userId?: UserId } = {},
): Promise<T> {
  if (!isUuid(tenantId))
    throw new SwitchyardError('E_TENANT_REQUIRED', `Not a tenant id: ${tenantId}`);
  return inTransaction(pool, fn, async (client) => {
    await client.query(
      "select set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true)",
      [tenantId, opts.userId ?? ''],
    );
  });
}

/**
 * Runs `fn` in a transaction with the system scope: only the tables whose policies name it
 * (the queue, due cron triggers) are visible across tenants. For engine internals only.
 */
export async function withSystem<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return inTransaction(pool, fn, async (client) => {
    await client.query("select set_config('app.scope', 'system', true)");
  });
}

/** Runs `fn` in a transaction as a user with no tenant: sees only the user's own memberships. */
export async function withUser<T>(
  pool: pg.Pool,
  userId: UserId,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return inTransaction(pool, fn, async (client) => {
    await client.query("select set_config('app.user_id', $1, true)", [userId]);
  });
}

async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  setup: (client: pg.PoolClient) => Promise<void>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('begin');
    await setup(client);
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
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
