import type { Queryable } from '../pool.ts';
import type { ApiTokenId, TenantId, UserId } from '../../model/ids.ts';
import type { Role } from '../../model/roles.ts';

export async function insertApiToken(
  db: Queryable,
  p: {
    tenantId: TenantId;
    name: string;
    role: Role;
    prefix: string;
    secretHash: Buffer;
    createdBy: UserId | null;
    expiresAt: Date | null;
  },
): Promise<{ id: ApiTokenId }> {
  const res = await db.query<{ id: ApiTokenId }>(
    `insert into api_tokens (tenant_id, name, role, prefix, secret_hash, created_by, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7) returning id`,
    [p.tenantId, p.name, p.role, p.prefix, p.secretHash, p.createdBy, p.expiresAt],
  );
  return res.rows[0]!;
}
