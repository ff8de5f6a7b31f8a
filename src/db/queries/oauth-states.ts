import type { ConnectionId, TenantId, UserId } from '../../model/ids.ts';
import type { Queryable } from '../pool.ts';

export type OAuthStateRow = {
  id: string;
  userId: UserId;
  sessionId: string;
  connectionId: ConnectionId;
  verifierCipher: Buffer;
  redirectUri: string;
  expiresAt: Date;
  usedAt: Date | null;
};

export async function insertOAuthState(
  db: Queryable,
  p: {
    tenantId: TenantId;
    id: string;
    stateHash: Buffer;
    userId: UserId;
    sessionId: string;
    connectionId: ConnectionId;
    verifierCipher: Buffer;
    redirectUri: string;
    expiresAt: Date;
  },
): Promise<void> {
  await db.query(
    `insert into oauth_states
       (tenant_id, id, state_hash, user_id, session_id, connection_id, verifier_cipher, redirect_uri, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      p.tenantId,
      p.id,
      p.stateHash,
      p.userId,
      p.sessionId,
      p.connectionId,
      p.verifierCipher,
      p.redirectUri,
      p.expiresAt,
    ],
  );
}

/** The state with this hash in the current tenant, locked until the transaction ends. */
export async function selectOAuthStateForUpdate(
  db: Queryable,
  p: { stateHash: Buffer },
): Promise<OAuthStateRow | undefined> {
  const res = await db.query<{
    id: string;
    user_id: UserId;
    session_id: string;
    connection_id: ConnectionId;
    verifier_cipher: Buffer;
    redirect_uri: string;
    expires_at: Date;
    used_at: Date | null;
  }>(
    `select id, user_id, session_id, connection_id, verifier_cipher, redirect_uri, expires_at, used_at
       from oauth_states where state_hash = $1 for update`,
    [p.stateHash],
  );
  const r = res.rows[0];
  return (
    r && {
      id: r.id,
      userId: r.user_id,
      sessionId: r.session_id,
      connectionId: r.connection_id,
      verifierCipher: r.verifier_cipher,
      redirectUri: r.redirect_uri,
      expiresAt: r.expires_at,
      usedAt: r.used_at,
    }
  );
}

export async function markOAuthStateUsed(
  db: Queryable,
  p: { id: string; usedAt: Date },
): Promise<void> {
  await db.query('update oauth_states set used_at = $2 where id = $1', [p.id, p.usedAt]);
}

/** Rows of the current tenant that expired before `before` (used or not). */
export async function deleteExpiredOAuthStates(
  db: Queryable,
  p: { before: Date },
): Promise<number> {
  const res = await db.query('delete from oauth_states where expires_at < $1', [p.before]);
  return res.rowCount ?? 0;
}
