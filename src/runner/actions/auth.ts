/**
 * Applies a connection's auth kind to an outgoing request. OAuth2 client-credentials tokens
 * are fetched through the gate (the token URL is an outgoing request like any other) and
 * cached per connection until shortly before they expire.
 */
import { SwitchyardError, assertNever } from '../../model/errors.ts';
import type { TenantId } from '../../model/ids.ts';
import type { Clock, DecryptedConnection, OAuthTokenStore } from '../types.ts';
import { authorizationCodeToken } from './oauth-code.ts';
import { parseBody, type Outbound } from './outbound.ts';

/** Refresh this long before the token's stated expiry, to absorb clock skew and latency. */
const TOKEN_EXPIRY_MARGIN_MS = 30_000;

export type AuthApplied = { headers: Record<string, string>; query: Record<string, string> };

export type AuthDeps = {
  tenantId: TenantId;
  outbound: Outbound;
  tokens: TokenCache;
  clock: Clock;
  /** Refreshes oauth2_authorization_code tokens across processes (one refresh at a time). */
  oauth?: OAuthTokenStore;
  /** The access token the API just answered 401 to: obtain a fresh one. */
  rejectedToken?: string;
  /**
   * Told every secret value this call puts on the wire or receives (header values, OAuth
   * tokens, fetched or cached), so the step's scrubber knows them before anything is stored.
   */
  reveal?: (value: string) => void;
};

export type TokenCache = {
  get(key: string, now: Date): string | undefined;
  set(key: string, token: string, expiresAt: Date): void;
  delete(key: string): void;
};

export function createTokenCache(): TokenCache {
  const entries = new Map<string, { token: string; expiresAt: number }>();
  return {
    get(key, now) {
      const e = entries.get(key);
      if (!e) return undefined;
      if (e.expiresAt <= now.getTime()) {
        entries.delete(key);
        return undefined;
      }
      return e.token;
    },
    set: (key, token, expiresAt) => entries.set(key, { token, expiresAt: expiresAt.getTime() }),
    delete: (key) => entries.delete(key),
  };
}

export async function applyAuth(
  conn: DecryptedConnection | null,
  deps: AuthDeps,
): Promise<AuthApplied> {
  const out = await authValues(conn, deps);
  for (const v of [...Object.values(out.headers), ...Object.values(out.query)]) deps.reveal?.(v);
  return out;
}

async function authValues(conn: DecryptedConnection | null, deps: AuthDeps): Promise<AuthApplied> {
  const out: AuthApplied = { headers: {}, query: {} };
  if (!conn) return out;
  const kind = conn.authKind;
  switch (kind) {
    case 'none':
      return out;
    case 'api_key': {
      const name = str(conn.authConfig.name) ?? 'X-Api-Key';
      const key = need(conn, 'apiKey');
      if (conn.authConfig.in === 'query') out.query[name] = key;
      else out.headers[name.toLowerCase()] = key;
      return out;
    }
    case 'bearer':
      out.headers.authorization = `Bearer ${need(conn, 'token')}`;
      return out;
    case 'basic': {
      const user = conn.secret.username ?? str(conn.config.username);
      if (user === undefined) need(conn, 'username');
      out.headers.authorization = `Basic ${Buffer.from(`${user}:${need(conn, 'password')}`).toString('base64')}`;
      return out;
    }
    case 'oauth2_client_credentials':
      out.headers.authorization = `Bearer ${await clientCredentialsToken(conn, deps)}`;
      return out;
    case 'oauth2_authorization_code':
      out.headers.authorization = `Bearer ${await authorizationCodeToken(conn, deps, deps.rejectedToken)}`;
      return out;
    default:
      return assertNever(kind);
  }
}

export function tokenCacheKey(tenantId: TenantId, conn: DecryptedConnection): string {
  return `${tenantId}:${conn.id}`;
}

async function clientCredentialsToken(conn: DecryptedConnection, deps: AuthDeps): Promise<string> {
  const cacheKey = tokenCacheKey(deps.tenantId, conn);
  const cached = deps.tokens.get(cacheKey, deps.clock.now());
  if (cached) {
    // A token fetched by an earlier step is as secret in this one.
    deps.reveal?.(cached);
    return cached;
  }
  const tokenUrl = str(conn.authConfig.tokenUrl) ?? str(conn.config.tokenUrl);
  if (!tokenUrl)
    throw new SwitchyardError(
      'E_CONNECTION_INVALID',
      'oauth2_client_credentials needs authConfig.tokenUrl',
    );
  const clientId = need(conn, 'clientId');
  const clientSecret = need(conn, 'clientSecret');
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  const scope = str(conn.authConfig.scope) ?? str(conn.config.scope);
  if (scope) form.set('scope', scope);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (conn.authConfig.clientAuth === 'body') {
    form.set('client_id', clientId);
    form.set('client_secret', clientSecret);
  } else {
    const enc = (s: string) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
  }
  const res = await deps.outbound({
    method: 'POST',
    url: tokenUrl,
    headers,
    body: form.toString(),
  });
  if (res.status === 408 || res.status === 429 || res.status >= 500)
    throw new SwitchyardError(
      'E_UPSTREAM_UNAVAILABLE',
      `The token endpoint answered ${res.status}`,
    );
  const body = parseBody(res) as
    | { access_token?: unknown; refresh_token?: unknown; id_token?: unknown; expires_in?: unknown }
    | string;
  if (typeof body === 'object' && body !== null)
    for (const t of [body.access_token, body.refresh_token, body.id_token])
      if (typeof t === 'string') deps.reveal?.(t);
  if (
    res.status < 200 ||
    res.status > 299 ||
    typeof body !== 'object' ||
    typeof body.access_token !== 'string'
  )
    throw new SwitchyardError(
      'E_CONNECTION_INVALID',
      `The token endpoint refused the client credentials (HTTP ${res.status})`,
    );
  const expiresInS = typeof body.expires_in === 'number' ? body.expires_in : 3600;
  const ttl = Math.max(0, expiresInS * 1000 - TOKEN_EXPIRY_MARGIN_MS);
  deps.tokens.set(cacheKey, body.access_token, new Date(deps.clock.now().getTime() + ttl));
  return body.access_token;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function need(conn: DecryptedConnection, field: string): string {
  const v = conn.secret[field];
  if (typeof v !== 'string' || v === '')
    throw new SwitchyardError(
      'E_CONNECTION_INVALID',
      `The connection lacks the secret field "${field}" that auth kind ${conn.authKind} needs`,
      { field },
    );
  return v;
}
