import type { Queryable } from '../pool.ts';
import { containsPattern } from '../sql.ts';
import type { TenantId, UserId } from '../../model/ids.ts';
import type { Role } from '../../model/roles.ts';

export type MemberRow = {
  tenantId: TenantId;
  userId: UserId;
  email: string;
  role: Role;
  createdAt: Date;
};

type Raw = { tenant_id: TenantId; user_id: UserId; email: string; role: Role; created_at: Date };
const map = (r: Raw): MemberRow => ({
  tenantId: r.tenant_id,
  userId: r.user_id,
  email: r.email,
  role: r.role,
  createdAt: r.created_at,
});

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

/** One page by (email, user id); optionally only the emails containing `search`. */
export async function selectMembers(
  db: Queryable,
  p: {
    tenantId: TenantId;
    search: string | null;
    after: { email: string; userId: string } | null;
    limit: number;
  },
): Promise<MemberRow[]> {
  const res = await db.query<Raw>(
    `select m.tenant_id, m.user_id, u.email, m.role, m.created_at
       from memberships m join users u on u.id = m.user_id
      where m.tenant_id = $1
        and ($2::text is null or u.email like $2)
        and ($3::text is null or (u.email, m.user_id) > ($3, $4::uuid))
      order by u.email, m.user_id limit $5`,
    [
      p.tenantId,
      p.search === null ? null : containsPattern(p.search),
      p.after?.email ?? null,
      p.after?.userId ?? null,
      p.limit,
    ],
  );
  return res.rows.map(map);
}

export async function selectMembership(
  db: Queryable,
  p: { userId: UserId },
): Promise<MemberRow | undefined> {
  const res = await db.query<Raw>(
    `select m.tenant_id, m.user_id, u.email, m.role, m.created_at
       from memberships m join users u on u.id = m.user_id where m.user_id = $1`,
    [p.userId],
  );
  return res.rows[0] && map(res.rows[0]);
}

/** A user's memberships in every tenant (visible through the own_memberships policy). */
export async function selectMembershipsOfUser(
  db: Queryable,
  p: { userId: UserId },
): Promise<Array<{ tenantId: TenantId; role: Role }>> {
  const res = await db.query<{ tenant_id: TenantId; role: Role }>(
    'select tenant_id, role from memberships where user_id = $1 order by created_at',
    [p.userId],
  );
  return res.rows.map((r) => ({ tenantId: r.tenant_id, role: r.role }));
}

export async function updateMembershipRole(
  db: Queryable,
  p: { userId: UserId; role: Role },
): Promise<boolean> {
  const res = await db.query('update memberships set role = $2 where user_id = $1', [
    p.userId,
    p.role,
  ]);
  return (res.rowCount ?? 0) > 0;
}

export async function deleteMembership(db: Queryable, p: { userId: UserId }): Promise<boolean> {
  const res = await db.query('delete from memberships where user_id = $1', [p.userId]);
  return (res.rowCount ?? 0) > 0;
}

export async function countOwners(db: Queryable): Promise<number> {
  const res = await db.query<{ n: number }>(
    `select count(*)::int as n from memberships where role = 'owner'`,
  );
  return res.rows[0]?.n ?? 0;
}
