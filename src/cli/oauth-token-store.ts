/**
 * The OAuth token store the worker hands the runner (runner/types.ts, OAuthTokenStore): a
 * refresh runs inside one transaction holding the connection's row lock (SELECT … FOR UPDATE),
 * so across every worker process exactly one refresh of a connection runs at a time. A process
 * that waited for the lock finds the access token replaced and uses the stored one instead of
 * refreshing again — with a provider that rotates refresh tokens, a second refresh with the old
 * token would be refused and the connection lost.
 *
 * The token request is sent while the lock is held: the gate's total timeout bounds it, and
 * only steps of the same connection wait.
 */
import type pg from 'pg';
import { lockConnection, updateConnectionStatus } from '../db/queries/connections.ts';
import { withTenant } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { OAuthTokens } from '../model/oauth.ts';
import type { Logger } from '../observability/logger.ts';
import { recordAudit } from '../observability/audit.ts';
import type { OAuthTokenStore } from '../runner/types.ts';
import type { SecretBox } from '../security/crypto/secret-box.ts';
import { readConnectionSecret, storeConnectionSecret } from '../security/secrets/connections.ts';
import { dbCall } from './db-call.ts';

type Outcome = { tokens: OAuthTokens } | { refused: string };

export function dbOAuthTokenStore(
  pool: pg.Pool,
  box: SecretBox | undefined,
  logger: Logger,
): OAuthTokenStore {
  return {
    async refresh(p, refresh) {
      if (!box)
        throw new SwitchyardError(
          'E_CONNECTION_INVALID',
          'This process cannot decrypt connection secrets (no key provider configured)',
        );
      const { tenantId, connectionId } = p;
      const outcome = await dbCall('refreshing the OAuth token', () =>
        withTenant(pool, tenantId, async (c): Promise<Outcome> => {
          const row = await lockConnection(c, { tenantId, id: connectionId });
          if (!row)
            throw new SwitchyardError(
              'E_CONNECTION_INVALID',
              `The step's connection ${connectionId} does not exist`,
            );
          if (row.status === 'needs_reauth')
            return { refused: row.statusReason ?? 'the connection must be connected again' };
          const secret = (await readConnectionSecret(c, box, { tenantId, connectionId })) ?? {};
          const s = (k: string) => (typeof secret[k] === 'string' ? secret[k] : undefined);
          const stored: OAuthTokens = { accessToken: s('accessToken') ?? '' };
          const refreshToken = s('refreshToken');
          const expiresAt = s('expiresAt');
          if (refreshToken) stored.refreshToken = refreshToken;
          if (expiresAt) stored.expiresAt = expiresAt;
          // Another process refreshed while this one waited for the lock: use its result.
          if (stored.accessToken !== '' && stored.accessToken !== p.staleAccessToken)
            return { tokens: stored };
          const result = await refresh({
            ...stored,
            clientId: s('clientId') ?? '',
            clientSecret: s('clientSecret') ?? '',
          });
          if (result.kind === 'refused') {
            await updateConnectionStatus(c, {
              tenantId,
              id: connectionId,
              status: 'needs_reauth',
              reason: result.reason,
            });
            await recordAudit(c, {
              tenantId,
              actorKind: 'system',
              actorId: null,
              action: 'connection.needs_reauth',
              targetKind: 'connection',
              targetId: connectionId,
              outcome: 'failure',
              metadata: { reason: result.reason },
            });
            return { refused: result.reason };
          }
          const next: Record<string, unknown> = { ...secret, ...result.tokens };
          if (!result.tokens.expiresAt) delete next.expiresAt;
          await storeConnectionSecret(c, box, { tenantId, connectionId, secret: next });
          return { tokens: result.tokens };
        }),
      );
      if ('refused' in outcome) {
        logger.warn({ tenantId, connectionId }, 'OAuth connection needs to be connected again');
        throw new SwitchyardError(
          'E_CONNECTION_NEEDS_REAUTH',
          `Connection ${connectionId} must be connected again: ${outcome.refused}`,
          { connectionId },
        );
      }
      return outcome.tokens;
    },
  };
}
