/** The runner's injected dependencies: everything it needs comes in through these shapes. */
import type { AppId, ConnectionId, TenantId } from '../model/ids.ts';
import type { OAuthTokens } from '../model/oauth.ts';
import type { ExecutionLogLine, StepContext } from '../model/step.ts';

export type Clock = { now(): Date };

export type { AuthKind } from '../model/step.ts';
import type { AuthKind } from '../model/step.ts';

/**
 * A connection as the runner needs it: the app's auth kind and non-secret auth settings
 * (from `apps`), the connection's non-secret config and its decrypted secret fields.
 *  - api_key: authConfig `{ in: 'header' | 'query', name }`, secret `{ apiKey }`
 *  - bearer: secret `{ token }`
 *  - basic: secret `{ username, password }` (username may sit in config)
 *  - oauth2_client_credentials: authConfig `{ tokenUrl, scope?, clientAuth?: 'basic' | 'body' }`,
 *    secret `{ clientId, clientSecret }`
 *  - oauth2_authorization_code: authConfig `{ authorizeUrl, tokenUrl, scopes?, clientAuth?,
 *    authorizeParams? }`, secret `{ clientId, clientSecret, accessToken, refreshToken?,
 *    expiresAt? }` (tokens once connected; refreshed through OAuthTokenStore)
 *  - outgoing webhooks: secret `{ signingSecret: 'whsec_…' }`
 */
export type DecryptedConnection = {
  id: ConnectionId;
  appId: AppId;
  authKind: AuthKind;
  authConfig: Record<string, unknown>;
  config: Record<string, unknown>;
  secret: Record<string, string>;
};

export type ConnectionLoader = {
  load(tenantId: TenantId, connectionId: ConnectionId): Promise<DecryptedConnection>;
};

export type LogSink = {
  write(ctx: StepContext, lines: ExecutionLogLine[]): Promise<void>;
};

export type Permit = { allowed: true } | { allowed: false; retryAfterMs: number };

/** The action's rate limit, shared by all workers (GCRA; see rate-limit.ts). */
export type RateLimiter = {
  acquire(p: {
    tenantId: TenantId;
    key: string;
    requests: number;
    perSeconds: number;
  }): Promise<Permit>;
};

/**
 * The tokens of `oauth2_authorization_code` connections, shared by every worker process. A
 * refresh runs under a per-connection lock: one process refreshes, the others wait for it and
 * use its result — a provider that rotates refresh tokens invalidates the old one, so two
 * refreshes with the same token would lose the connection.
 */
export type OAuthTokenStore = {
  /**
   * Under the connection's lock: when the stored access token is still `staleAccessToken`,
   * calls `refresh` with the stored tokens and client, stores what it grants and returns it;
   * when another process replaced it meanwhile, returns the stored tokens without calling
   * `refresh`. A refused refresh marks the connection `needs_reauth` and throws
   * E_CONNECTION_NEEDS_REAUTH.
   */
  refresh(
    p: { tenantId: TenantId; connectionId: ConnectionId; staleAccessToken: string },
    refresh: (current: OAuthCurrent) => Promise<OAuthRefreshOutcome>,
  ): Promise<OAuthTokens>;
};

export type OAuthCurrent = OAuthTokens & { clientId: string; clientSecret: string };
export type OAuthRefreshOutcome =
  { kind: 'granted'; tokens: OAuthTokens } | { kind: 'refused'; reason: string };
