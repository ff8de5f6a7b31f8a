import type { Queryable } from '../pool.ts';
import type { ApiTokenId, TenantId, UserId } from '../../model/ids.ts';
import type { Role } from '../../model/roles.ts';

export type ApiTokenRow = {
  id: ApiTokenId;
  name: string;
  role: Role;
  prefix: string;
  createdBy: UserId | null;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
};

type Raw = {
  id: ApiTokenId;
  name: string;
  role: Role;
  prefix: string;
  created_by: UserId | null;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
};
const columns =
  'id, name, role, prefix, created_by, last_used_at, expires_at, revoked_at, created_at';
const tokenColumns = columns
  .split(', ')
  .map((c) => `t.${c}`)
  .join(', ');
const map = (r: Raw): ApiTokenRow => ({
  id: r.id,
  name: r.name,
  role: r.role,
  prefix: r.prefix,
  createdBy: r.created_by,
  lastUsedAt: r.last_used_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  createdAt: r.created_at,
});

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
): Promise<ApiTokenRow> {
  const res = await db.query<Raw>(
    `insert into api_tokens (tenant_id, name, role, prefix, secret_hash, created_by, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7) returning ${columns}`,
    [p.tenantId, p.name, p.role, p.prefix, p.secretHash, p.createdBy, p.expiresAt],
  );
  return map(res.rows[0]!);
}

/**
 * The token with that secret hash in the current tenant (RLS), whatever its state, with its
 * creator's current role in the tenant (null: the creator left, was removed or deleted, which
 * also sets created_by to null, or was disabled by an operator). Primary-key joins, so checked
 * on every request. The creator is a member, so the tenant_members policy lets us see them.
 */
export async function selectApiTokenByHash(
  db: Queryable,
  p: { secretHash: Buffer },
): Promise<(ApiTokenRow & { creatorRole: Role | null }) | undefined> {
  const res = await db.query<Raw & { creator_role: Role | null }>(
    `select ${tokenColumns}, case when u.disabled_at is null then m.role end as creator_role
       from api_tokens t
       left join memberships m on m.tenant_id = t.tenant_id and m.user_id = t.created_by
       left join users u on u.id = m.user_id
      where t.secret_hash = $1`,
    [p.secretHash],
  );
  const r = res.rows[0];
  return r && { ...map(r), creatorRole: r.creator_role };
}

export async function selectApiTokenById(
  db: Queryable,
  p: { id: ApiTokenId },
): Promise<ApiTokenRow | undefined> {
  const res = await db.query<Raw>(`select ${columns} from api_tokens where id = $1`, [p.id]);
  return res.rows[0] && map(res.rows[0]);
}

export async function selectApiTokens(db: Queryable): Promise<ApiTokenRow[]> {
  const res = await db.query<Raw>(`select ${columns} from api_tokens order by created_at desc`);
  return res.rows.map(map);
}

export async function revokeApiToken(
  db: Queryable,
  p: { id: ApiTokenId },
): Promise<ApiTokenRow | undefined> {
  const res = await db.query<Raw>(
    `update api_tokens set revoked_at = coalesce(revoked_at, now()) where id = $1 returning ${columns}`,
    [p.id],
  );
  return res.rows[0] && map(res.rows[0]);
}

/** Batched lastUsedAt: one statement for every token seen since the last flush. */
export async function touchApiTokensLastUsed(
  db: Queryable,
  p: { ids: ApiTokenId[]; usedAt: Date[] },
): Promise<void> {
  await db.query(
    `update api_tokens t set last_used_at = greatest(coalesce(t.last_used_at, u.used_at), u.used_at)
       from unnest($1::uuid[], $2::timestamptz[]) as u(id, used_at) where t.id = u.id`,
    [p.ids, p.usedAt],
  );
}
