/**
 * "Connect" for oauth2_authorization_code connections (docs/security.md, "OAuth"): the
 * authorize URL with a single-use `state` bound to the signed-in user, session and tenant and a
 * PKCE S256 challenge; then, at /oauth/callback, the checks of that state and the code exchange
 * through the outgoing gate. The state is stored only as its SHA-256 and the code_verifier only
 * sealed by the secret box; the tokens land in the connection's sealed secret.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { selectApp } from '../../db/queries/apps.ts';
import { selectConnection, updateConnectionStatus } from '../../db/queries/connections.ts';
import {
  deleteExpiredOAuthStates,
  insertOAuthState,
  markOAuthStateUsed,
  selectOAuthStateForUpdate,
} from '../../db/queries/oauth-states.ts';
import type { Queryable } from '../../db/pool.ts';
import { withTenant } from '../../db/tenant.ts';
import { SwitchyardError } from '../../model/errors.ts';
import type { ConnectionId, TenantId, UserId } from '../../model/ids.ts';
import {
  authorizeUrl,
  readOAuthAppConfig,
  readTokenAnswer,
  tokenRequest,
  type OAuthAppConfig,
  type TokenRequest,
} from '../../model/oauth.ts';
import { recordAudit } from '../../observability/audit.ts';
import type { SecretBox } from '../../security/crypto/secret-box.ts';
import { readConnectionSecret, storeConnectionSecret } from '../../security/secrets/connections.ts';

/** Long enough to sign in at the provider and approve; short enough that a leaked URL expires. */
export const OAUTH_STATE_TTL_MS = 10 * 60_000;

/** The token endpoint request sent through the outgoing gate (wired by cli/api-wiring.ts). */
export type OAuthOutbound = (req: TokenRequest) => Promise<{ status: number; body: Buffer }>;

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const verifierLocation = (tenantId: TenantId, id: string) => ({
  tenantId,
  table: 'oauth_states',
  recordId: id,
  field: 'verifier_cipher',
});

export const oauthRedirectUri = (publicUrl: string) => `${publicUrl}/oauth/callback`;

async function oauthConnection(
  db: Queryable,
  box: SecretBox,
  tenantId: TenantId,
  connectionId: ConnectionId,
): Promise<{ app: OAuthAppConfig; secret: Record<string, unknown> }> {
  const conn = await selectConnection(db, { id: connectionId });
  if (!conn) throw new SwitchyardError('E_NOT_FOUND', 'No such connection.');
  const appRow = await selectApp(db, { id: conn.appId });
  if (!appRow || appRow.authKind !== 'oauth2_authorization_code')
    throw new SwitchyardError(
      'E_VALIDATION',
      'Only connections of an oauth2_authorization_code app are connected through OAuth.',
      { field: 'connectionId' },
    );
  const app = readOAuthAppConfig(appRow.authConfig);
  if (typeof app === 'string')
    throw new SwitchyardError('E_VALIDATION', `The app's ${app}.`, { field: 'connectionId' });
  const secret = (await readConnectionSecret(db, box, { tenantId, connectionId })) ?? {};
  if (typeof secret.clientId !== 'string' || typeof secret.clientSecret !== 'string')
    throw new SwitchyardError(
      'E_VALIDATION',
      'Set the connection’s secret {"clientId", "clientSecret"} before connecting.',
      { field: 'secret.clientId' },
    );
  return { app, secret };
}

/** Creates the state and returns where to send the user's browser. */
export async function startOAuthConnection(
  db: Queryable,
  box: SecretBox,
  p: {
    tenantId: TenantId;
    userId: UserId;
    sessionId: string;
    connectionId: ConnectionId;
    publicUrl: string;
    now: Date;
  },
): Promise<{ authorizeUrl: string; expiresAt: Date }> {
  const { app, secret } = await oauthConnection(db, box, p.tenantId, p.connectionId);
  await deleteExpiredOAuthStates(db, { before: new Date(p.now.getTime() - 86_400_000) });
  const state = randomBytes(32).toString('base64url');
  const verifier = randomBytes(32).toString('base64url');
  const id = randomUUID();
  const redirectUri = oauthRedirectUri(p.publicUrl);
  const expiresAt = new Date(p.now.getTime() + OAUTH_STATE_TTL_MS);
  await insertOAuthState(db, {
    tenantId: p.tenantId,
    id,
    stateHash: sha256(state),
    userId: p.userId,
    sessionId: p.sessionId,
    connectionId: p.connectionId,
    verifierCipher: await box.encryptField(db, verifierLocation(p.tenantId, id), verifier),
    redirectUri,
    expiresAt,
  });
  return {
    authorizeUrl: authorizeUrl(app, {
      clientId: secret.clientId as string,
      redirectUri,
      state,
      codeChallenge: sha256(verifier).toString('base64url'),
    }),
    expiresAt,
  };
}

export type CallbackDeps = {
  pool: pg.Pool;
  box: SecretBox;
  outbound: OAuthOutbound;
  now: () => Date;
};

export type CallbackSession = { userId: UserId; sessionId: string; tenantId: TenantId };

/**
 * Checks and consumes the state (committed even when the exchange then fails: a state is
 * never accepted twice), exchanges the code and stores the tokens. Returns the connection.
 */
export async function completeOAuthConnection(
  deps: CallbackDeps,
  session: CallbackSession,
  q: { state: string; code?: string; error?: string; ip: string | null; requestId: string | null },
): Promise<ConnectionId> {
  const { tenantId } = session;
  const audit = {
    tenantId,
    actorKind: 'user' as const,
    actorId: session.userId,
    ip: q.ip,
    requestId: q.requestId,
    targetKind: 'connection',
  };
  const claimed = await withTenant(deps.pool, tenantId, async (db) => {
    const row = await selectOAuthStateForUpdate(db, { stateHash: sha256(q.state) });
    if (!row || row.userId !== session.userId || row.sessionId !== session.sessionId)
      return { refused: 'E_OAUTH_STATE_INVALID' as const, connectionId: row?.connectionId };
    if (row.usedAt !== null)
      return { refused: 'E_OAUTH_STATE_USED' as const, connectionId: row.connectionId };
    if (row.expiresAt.getTime() <= deps.now().getTime())
      return { refused: 'E_OAUTH_STATE_EXPIRED' as const, connectionId: row.connectionId };
    await markOAuthStateUsed(db, { id: row.id, usedAt: deps.now() });
    const verifier = await deps.box.decryptField(
      db,
      verifierLocation(tenantId, row.id),
      row.verifierCipher,
    );
    const { app, secret } = await oauthConnection(db, deps.box, tenantId, row.connectionId);
    return { row, verifier: verifier.toString('utf8'), app, secret };
  });
  if ('refused' in claimed) {
    if (claimed.connectionId)
      await withTenant(deps.pool, tenantId, (db) =>
        recordAudit(db, {
          ...audit,
          action: 'connection.oauth_refused',
          targetId: claimed.connectionId!,
          outcome: 'failure',
          metadata: { code: claimed.refused },
        }),
      );
    throw new SwitchyardError(claimed.refused, stateMessages[claimed.refused]);
  }
  const { row, app, secret } = claimed;
  const connectionId = row.connectionId;
  const fail = async (code: 'E_OAUTH_DENIED' | 'E_OAUTH_EXCHANGE_FAILED', message: string) => {
    await withTenant(deps.pool, tenantId, (db) =>
      recordAudit(db, {
        ...audit,
        action: 'connection.oauth_refused',
        targetId: connectionId,
        outcome: 'failure',
        metadata: { code },
      }),
    );
    return new SwitchyardError(code, message, { connectionId });
  };
  if (q.error !== undefined || !q.code)
    throw await fail(
      'E_OAUTH_DENIED',
      `The authorization server did not grant access (${(q.error ?? 'no code').slice(0, 100)}).`,
    );
  const res = await deps.outbound(
    tokenRequest(
      app,
      { clientId: secret.clientId as string, clientSecret: secret.clientSecret as string },
      {
        grant_type: 'authorization_code',
        code: q.code,
        redirect_uri: row.redirectUri,
        code_verifier: claimed.verifier,
      },
    ),
  );
  const answer = readTokenAnswer(
    { status: res.status, body: res.body.toString('utf8') },
    deps.now(),
  );
  if (answer.kind !== 'granted')
    throw await fail(
      'E_OAUTH_EXCHANGE_FAILED',
      answer.kind === 'refused'
        ? `The token endpoint refused the code (HTTP ${answer.status} ${answer.error}).`
        : `The token endpoint answered ${answer.status}; try Connect again later.`,
    );
  await withTenant(deps.pool, tenantId, async (db) => {
    const current = (await readConnectionSecret(db, deps.box, { tenantId, connectionId })) ?? {};
    const { accessToken: _a, refreshToken: _r, expiresAt: _e, ...client } = current;
    await storeConnectionSecret(db, deps.box, {
      tenantId,
      connectionId,
      secret: { ...client, ...answer.tokens },
    });
    await updateConnectionStatus(db, {
      tenantId,
      id: connectionId,
      status: 'active',
      reason: null,
    });
    await recordAudit(db, {
      ...audit,
      action: 'connection.oauth_connected',
      targetId: connectionId,
      metadata: { refreshToken: answer.tokens.refreshToken !== undefined },
    });
  });
  return connectionId;
}

const stateMessages = {
  E_OAUTH_STATE_INVALID:
    'The OAuth state is unknown or was issued to another session or tenant: start Connect again from the connection.',
  E_OAUTH_STATE_USED: 'The OAuth state was used already: start Connect again.',
  E_OAUTH_STATE_EXPIRED: 'The OAuth state has expired: start Connect again.',
};
