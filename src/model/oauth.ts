/**
 * OAuth 2.0 authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636), as pure functions:
 * the app's settings, the token endpoint request and the reading of its answer. The API (code
 * exchange) and the runner (refresh) both send these requests through the outgoing gate.
 */

export type OAuthAppConfig = {
  authorizeUrl: string;
  tokenUrl: string;
  scopes: string[];
  /** How the client authenticates at the token endpoint: HTTP Basic (default) or form fields. */
  clientAuth: 'basic' | 'body';
  /** Extra query parameters of the authorize URL, e.g. {"access_type": "offline"}. */
  authorizeParams: Record<string, string>;
};

/** What a granted connection holds in its sealed secret besides clientId and clientSecret. */
export type OAuthTokens = {
  accessToken: string;
  refreshToken?: string;
  /** ISO time the access token expires, when the provider said (expires_in). */
  expiresAt?: string;
};

/** The secret fields the tokens are stored under (next to clientId and clientSecret). */
export const OAUTH_TOKEN_FIELDS = ['accessToken', 'refreshToken', 'expiresAt'] as const;

/** A usable reading of authConfig, or the reason it is not (validated when the app is saved). */
export function readOAuthAppConfig(c: Record<string, unknown>): OAuthAppConfig | string {
  for (const field of ['authorizeUrl', 'tokenUrl'] as const) {
    const v = c[field];
    if (typeof v !== 'string' || !URL.canParse(v) || !/^https?:$/.test(new URL(v).protocol))
      return `authConfig.${field} must be an absolute URL (https; http only for hosts on GATE_ALLOW_HTTP_HOSTS)`;
  }
  const scopes = c.scopes ?? [];
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && /^\S+$/.test(s)))
    return 'authConfig.scopes must be a list of scope names without spaces';
  const clientAuth = c.clientAuth ?? 'basic';
  if (clientAuth !== 'basic' && clientAuth !== 'body')
    return 'authConfig.clientAuth must be "basic" or "body"';
  const params = c.authorizeParams ?? {};
  if (
    typeof params !== 'object' ||
    params === null ||
    Array.isArray(params) ||
    !Object.values(params).every((v) => typeof v === 'string')
  )
    return 'authConfig.authorizeParams must be an object of strings';
  const reserved = Object.keys(params).filter((k) => RESERVED_PARAMS.has(k));
  if (reserved.length > 0)
    return `authConfig.authorizeParams may not set ${reserved.join(', ')} (Switchyard sets them)`;
  return {
    authorizeUrl: c.authorizeUrl as string,
    tokenUrl: c.tokenUrl as string,
    scopes: scopes as string[],
    clientAuth,
    authorizeParams: params as Record<string, string>,
  };
}

const RESERVED_PARAMS = new Set([
  'response_type',
  'client_id',
  'redirect_uri',
  'state',
  'code_challenge',
  'code_challenge_method',
]);

export function authorizeUrl(
  app: OAuthAppConfig,
  p: { clientId: string; redirectUri: string; state: string; codeChallenge: string },
): string {
  const url = new URL(app.authorizeUrl);
  for (const [k, v] of Object.entries(app.authorizeParams)) url.searchParams.set(k, v);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', p.clientId);
  url.searchParams.set('redirect_uri', p.redirectUri);
  if (app.scopes.length > 0) url.searchParams.set('scope', app.scopes.join(' '));
  url.searchParams.set('state', p.state);
  url.searchParams.set('code_challenge', p.codeChallenge);
  url.searchParams.set('code_challenge_method', 'S256');
  return url.toString();
}

export type TokenRequest = {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  body: string;
};

/** A token endpoint request for `grant` (authorization_code or refresh_token). */
export function tokenRequest(
  app: Pick<OAuthAppConfig, 'tokenUrl' | 'clientAuth'>,
  client: { clientId: string; clientSecret: string },
  grant: Record<string, string>,
): TokenRequest {
  const form = new URLSearchParams(grant);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (app.clientAuth === 'body') {
    form.set('client_id', client.clientId);
    form.set('client_secret', client.clientSecret);
  } else {
    // RFC 6749 §2.3.1: each part form-encoded before Basic.
    const enc = (s: string) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(client.clientId)}:${enc(client.clientSecret)}`).toString('base64')}`;
  }
  return { method: 'POST', url: app.tokenUrl, headers, body: form.toString() };
}

export type TokenAnswer =
  | { kind: 'granted'; tokens: OAuthTokens }
  /** 4xx from the endpoint (invalid_grant, invalid_client …): the grant will not work again. */
  | { kind: 'refused'; status: number; error: string }
  /** 408, 429, 5xx: try again later. */
  | { kind: 'unavailable'; status: number };

/**
 * Reads a token endpoint answer. `previousRefreshToken` is kept when the provider does not
 * rotate (no refresh_token in the answer, RFC 6749 §6).
 */
export function readTokenAnswer(
  res: { status: number; body: string },
  now: Date,
  previousRefreshToken?: string,
): TokenAnswer {
  if (res.status === 408 || res.status === 429 || res.status >= 500)
    return { kind: 'unavailable', status: res.status };
  let body: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(res.body) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: judged by status alone; the text may hold secrets, so it is not quoted.
  }
  const at = body.access_token;
  if (res.status < 200 || res.status > 299 || typeof at !== 'string' || at === '') {
    const error = typeof body.error === 'string' ? body.error.slice(0, 100) : 'no access_token';
    return { kind: 'refused', status: res.status, error };
  }
  const tokens: OAuthTokens = { accessToken: at };
  const rt = typeof body.refresh_token === 'string' ? body.refresh_token : previousRefreshToken;
  if (rt) tokens.refreshToken = rt;
  if (typeof body.expires_in === 'number' && body.expires_in > 0)
    tokens.expiresAt = new Date(now.getTime() + body.expires_in * 1000).toISOString();
  return { kind: 'granted', tokens };
}
