import type { Queryable } from '../pool.ts';
import type { TenantId, UserId } from '../../model/ids.ts';
import type { Role } from '../../model/roles.ts';

export type InvitationRow = {
  id: string;
  email: string;
  role: Role;
  invitedBy: UserId | null;
  expiresAt: Date;
  acceptedAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
};
type Raw = {
  id: string;
  email: string;
  role: Role;
  invited_by: UserId | null;
  expires_at: Date;
  accepted_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
};
const columns = 'id, email, role, invited_by, expires_at, accepted_at, revoked_at, created_at';
const map = (r: Raw): InvitationRow => ({
  id: r.id,
  email: r.email,
  role: r.role,
  invitedBy: r.invited_by,
  expiresAt: r.expires_at,
  acceptedAt: r.accepted_at,
  revokedAt: r.revoked_at,
  createdAt: r.created_at,
});

export async function insertInvitation(
  db: Queryable,
  p: {
    tenantId: string;
    email: string;
    role: Role;
    tokenHash: Buffer;
    invitedBy: UserId | null;
    expiresAt: Date;
  },
): Promise<InvitationRow> {
  const res = await db.query<Raw>(
    `insert into invitations (tenant_id, email, role, token_hash, invited_by, expires_at)
     values ($1, $2, $3, $4, $5, $6) returning ${columns}`,
    [p.tenantId, p.email, p.role, p.tokenHash, p.invitedBy, p.expiresAt],
  );
  return map(res.rows[0]!);
}

export async function selectInvitations(db: Queryable): Promise<InvitationRow[]> {
  const res = await db.query<Raw>(`select ${columns} from invitations order by created_at desc`);
  return res.rows.map(map);
}

/**
 * Marks the open invitation with that token hash accepted, once: a second accept (or a
 * revoked or expired invitation) finds nothing.
 */
export async function acceptInvitation(
  db: Queryable,
  p: { tokenHash: Buffer; userId: UserId },
): Promise<InvitationRow | undefined> {
  const res = await db.query<Raw>(
    `update invitations set accepted_at = now(), accepted_by = $2
      where token_hash = $1 and accepted_at is null and revoked_at is null and expires_at > now()
      returning ${columns}`,
    [p.tokenHash, p.userId],
  );
  return res.rows[0] && map(res.rows[0]);
}

export async function selectInvitationByHash(
  db: Queryable,
  p: { tokenHash: Buffer },
): Promise<InvitationRow | undefined> {
  const res = await db.query<Raw>(`select ${columns} from invitations where token_hash = $1`, [
    p.tokenHash,
  ]);
  return res.rows[0] && map(res.rows[0]);
}

export async function revokeInvitation(
  db: Queryable,
  p: { id: string },
): Promise<InvitationRow | undefined> {
  const res = await db.query<Raw>(
    `update invitations set revoked_at = now() where id = $1 and accepted_at is null and revoked_at is null returning ${columns}`,
    [p.id],
  );
  return res.rows[0] && map(res.rows[0]);
}

/**
 * Retention: invitations that ended (accepted, revoked or expired) before `before`. An open
 * invitation ends at its expiry, so one that can still be accepted never matches.
 */
const endedBefore = `tenant_id = $1 and coalesce(accepted_at, revoked_at, expires_at) < $2`;

export async function deleteEndedInvitations(
  db: Queryable,
  p: { tenantId: TenantId; before: Date; limit: number },
): Promise<number> {
  const res = await db.query(
    `delete from invitations where tenant_id = $1 and id in (
       select id from invitations where ${endedBefore} limit $3)`,
    [p.tenantId, p.before, p.limit],
  );
  return res.rowCount ?? 0;
}

export async function countEndedInvitations(
  db: Queryable,
  p: { tenantId: TenantId; before: Date },
): Promise<number> {
  const res = await db.query<{ n: number }>(
    `select count(*)::int as n from invitations where ${endedBefore}`,
    [p.tenantId, p.before],
  );
  return res.rows[0]?.n ?? 0;
}
