import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';

export type TenantRow = { id: TenantId; name: string; createdAt: Date };
type Raw = { id: TenantId; name: string; created_at: Date };
const map = (r: Raw): TenantRow => ({ id: r.id, name: r.name, createdAt: r.created_at });

export async function insertTenant(
  db: Queryable,
  p: { id: TenantId; name: string },
): Promise<TenantRow> {
  const res = await db.query<Raw>(
    'insert into tenants (id, name) values ($1, $2) returning id, name, created_at',
    [p.id, p.name],
  );
  return map(res.rows[0]!);
}

/** Tenants visible in this transaction: the current one, or the user's own (member_tenants). */
export async function selectVisibleTenants(db: Queryable): Promise<TenantRow[]> {
  const res = await db.query<Raw>('select id, name, created_at from tenants order by name');
  return res.rows.map(map);
}

export async function updateTenantName(
  db: Queryable,
  p: { id: TenantId; name: string },
): Promise<TenantRow | undefined> {
  const res = await db.query<Raw>(
    'update tenants set name = $2 where id = $1 returning id, name, created_at',
    [p.id, p.name],
  );
  return res.rows[0] && map(res.rows[0]);
}

/**
 * For retention, under the system scope (policy system_scope_retention): tenant ids in id
 * order after `afterId`, a page at a time.
 */
export async function selectTenantIdsPage(
  db: Queryable,
  p: { afterId: TenantId | null; limit: number },
): Promise<TenantId[]> {
  const res = await db.query<{ id: TenantId }>(
    `select id from tenants where ($1::uuid is null or id > $1) order by id limit $2`,
    [p.afterId, p.limit],
  );
  return res.rows.map((r) => r.id);
}
