/**
 * Browser sessions under row security (migration 0007): the runtime role reads and changes the
 * signed-in user's own (withUser), and otherwise reaches one session by its secret's hash or
 * its id, or expired ones in bulk, through SECURITY DEFINER functions.
 */
import type { Queryable } from '../pool.ts';
import type { TenantId, UserId } from '../../model/ids.ts';

export type SessionRow = {
  id: string;
  userId: UserId;
  currentTenantId: TenantId | null;
  expiresAt: Date;
  revokedAt: Date | null;
};

type Raw = {
  id: string;
  user_id: UserId;
  current_tenant_id: TenantId | null;
  expires_at: Date;
  revoked_at: Date | null;
};
const map = (r: Raw): SessionRow => ({
  id: r.id,
  userId: r.user_id,
  currentTenantId: r.current_tenant_id,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

/** Inside withUser() of the session's user. */
export async function insertSession(
  db: Queryable,
  p: {
    userId: UserId;
    tokenHash: Buffer;
    tenantId: TenantId | null;
    ip: string | null;
    userAgent: string | null;
    expiresAt: Date;
  },
): Promise<SessionRow> {
  const res = await db.query<Raw>(
    `insert into sessions (user_id, token_hash, current_tenant_id, ip, user_agent, expires_at)
     values ($1, $2, $3, $4, $5, $6) returning id, user_id, current_tenant_id, expires_at, revoked_at`,
    [p.userId, p.tokenHash, p.tenantId, p.ip, p.userAgent, p.expiresAt],
  );
  return map(res.rows[0]!);
}

/** The live session with that secret hash (not revoked, not expired); refreshes last_seen_at. */
export async function touchLiveSession(
  db: Queryable,
  p: { tokenHash: Buffer },
): Promise<SessionRow | undefined> {
  // last_seen_at moves at most once a minute: a busy UI session does not write per request.
  const res = await db.query<Raw>(
    'select id, user_id, current_tenant_id, expires_at, revoked_at from touch_session($1)',
    [p.tokenHash],
  );
  return res.rows[0] ? map(res.rows[0]) : undefined;
}

export async function revokeSession(db: Queryable, p: { id: string }): Promise<void> {
  await db.query('select revoke_session($1)', [p.id]);
}

/** Signs a user out everywhere (a new password): answers how many live sessions ended. Inside withUser() of that user. */
export async function revokeUserSessions(db: Queryable, p: { userId: UserId }): Promise<number> {
  const res = await db.query(
    'update sessions set revoked_at = now() where user_id = $1 and revoked_at is null and expires_at > now()',
    [p.userId],
  );
  return res.rowCount ?? 0;
}

export type LiveSessionRow = {
  id: string;
  ip: string | null;
  userAgent: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
};

/** The user's live sessions (not revoked, not expired), most recently used first. Inside withUser(). */
export async function selectLiveUserSessions(
  db: Queryable,
  p: { userId: UserId },
): Promise<LiveSessionRow[]> {
  const res = await db.query<{
    id: string;
    ip: string | null;
    user_agent: string | null;
    created_at: Date;
    last_seen_at: Date;
    expires_at: Date;
  }>(
    `select id, host(ip) as ip, user_agent, created_at, last_seen_at, expires_at from sessions
      where user_id = $1 and revoked_at is null and expires_at > now()
      order by last_seen_at desc, id limit 100`,
    [p.userId],
  );
  return res.rows.map((r) => ({
    id: r.id,
    ip: r.ip,
    userAgent: r.user_agent,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    expiresAt: r.expires_at,
  }));
}

/** Signs a user out everywhere but `keepId` (this browser): how many sessions ended. Inside withUser(). */
export async function revokeOtherUserSessions(
  db: Queryable,
  p: { userId: UserId; keepId: string },
): Promise<number> {
  const res = await db.query(
    `update sessions set revoked_at = now()
      where user_id = $1 and id <> $2 and revoked_at is null and expires_at > now()`,
    [p.userId, p.keepId],
  );
  return res.rowCount ?? 0;
}

/** Inside withUser() of the session's user. */
export async function setSessionTenant(
  db: Queryable,
  p: { id: string; tenantId: TenantId },
): Promise<void> {
  await db.query('update sessions set current_tenant_id = $2 where id = $1', [p.id, p.tenantId]);
}

/**
 * Retention: sessions that expired before `before` (a revoked session expires within
 * SESSION_TTL_MS of its revocation, so it goes too). An expired session cannot be used.
 */
export async function deleteExpiredSessions(
  db: Queryable,
  p: { before: Date; limit: number },
): Promise<number> {
  const res = await db.query<{ n: number }>('select purge_expired_sessions($1, $2) as n', [
    p.before,
    p.limit,
  ]);
  return res.rows[0]?.n ?? 0;
}

export async function countExpiredSessions(db: Queryable, p: { before: Date }): Promise<number> {
  const res = await db.query<{ n: number }>('select count_expired_sessions($1) as n', [p.before]);
  return res.rows[0]?.n ?? 0;
}
