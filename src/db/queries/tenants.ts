import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';

export type TenantRow = { id: TenantId; name: string; createdAt: Date };

export async function insertTenant(
  db: Queryable,
  p: { id: TenantId; name: string },
): Promise<TenantRow> {
  const res = await db.query<{ id: TenantId; name: string; created_at: Date }>(
    'insert into tenants (id, name) values ($1, $2) returning id, name, created_at',
    [p.id, p.name],
  );
  const row = res.rows[0]!;
  return { id: row.id, name: row.name, createdAt: row.created_at };
}
