import type { Queryable } from '../pool.ts';
import type { TenantId, UserId } from '../../model/ids.ts';
import type { Role } from '../../model/roles.ts';

export async function insertMembership(
  db: Queryable,
  p: { tenantId: TenantId; userId: UserId; role: Role },
): Promise<void> {
  await db.query('insert into memberships (tenant_id, user_id, role) values ($1, $2, $3)', [
    p.tenantId,
    p.userId,
    p.role,
  ]);
}
