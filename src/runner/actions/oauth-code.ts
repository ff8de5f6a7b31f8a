/**
 * Access tokens of `oauth2_authorization_code` connections: the stored one while it is fresh;
 * refreshed (through the gate, under the store's per-connection lock) shortly before it
 * expires, and once more when the API answers 401 with it.
 */
import { SwitchyardError } from '../../model/errors.ts';
import type { TenantId } from '../../model/ids.ts';
import { readOAuthAppConfig, readTokenAnswer, tokenRequest } from '../../model/oauth.ts';
import type { Clock, DecryptedConnection, OAuthTokenStore } from '../types.ts';
import type { Outbound } from './outbound.ts';

/** Refresh this long before the stated expiry, to absorb clock skew and the request's own time. */
export const OAUTH_REFRESH_MARGIN_MS = 60_000;

export type OAuthCodeDeps = {
  tenantId: TenantId;
  outbound: Outbound;
  clock: Clock;
  oauth?: OAuthTokenStore;
  reveal?: (value: string) => void;
};

/**
 * The access token to send. `rejected` is the token the API just answered 401 to: a fresh one
 * is obtained even if it has not expired (unless another process already replaced it).
 */
export async function authorizationCodeToken(
  conn: DecryptedConnection,
  deps: OAuthCodeDeps,
  rejected?: string,
): Promise<string> {
  const current = conn.secret.accessToken;
  if (!current)
    throw new SwitchyardError(
      'E_CONNECTION_NEEDS_REAUTH',
      `Connection ${conn.id} is not connected yet: an editor must use Connect (startOAuthConnection) first`,
      { connectionId: conn.id },
    );
  const expiresAt = conn.secret.expiresAt ? Date.parse(conn.secret.expiresAt) : NaN;
  const expiring =
    !Number.isNaN(expiresAt) && expiresAt - OAUTH_REFRESH_MARGIN_MS <= deps.clock.now().getTime();
  if (rejected === undefined && !expiring) return current;
  if (!deps.oauth)
    throw new SwitchyardError(
      'E_CONNECTION_INVALID',
      'This process cannot refresh OAuth tokens (no token store configured)',
    );
  const app = readOAuthAppConfig(conn.authConfig);
  if (typeof app === 'string') throw new SwitchyardError('E_CONNECTION_INVALID', app);
  const tokens = await deps.oauth.refresh(
    { tenantId: deps.tenantId, connectionId: conn.id, staleAccessToken: rejected ?? current },
    async (stored) => {
      if (!stored.refreshToken)
        return { kind: 'refused', reason: 'the provider gave no refresh token' };
      const res = await deps.outbound(
        tokenRequest(app, stored, {
          grant_type: 'refresh_token',
          refresh_token: stored.refreshToken,
        }),
      );
      const answer = readTokenAnswer(
        { status: res.status, body: res.body.toString('utf8') },
        deps.clock.now(),
        stored.refreshToken,
      );
      if (answer.kind === 'unavailable')
        throw new SwitchyardError(
          'E_UPSTREAM_UNAVAILABLE',
          `The token endpoint answered ${answer.status} to the refresh`,
        );
      if (answer.kind === 'refused')
        return {
          kind: 'refused',
          reason: `the token endpoint refused the refresh token (HTTP ${answer.status} ${answer.error})`,
        };
      return answer;
    },
  );
  for (const t of [tokens.accessToken, tokens.refreshToken]) if (t) deps.reveal?.(t);
  // The rest of this step (a retry after 401) uses the new tokens.
  delete conn.secret.expiresAt;
  Object.assign(conn.secret, tokens);
  return tokens.accessToken;
}
