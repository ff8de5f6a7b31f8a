import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import { authenticateApiToken } from '../accounts/api-tokens.ts';
import type { LastUsedTracker } from '../accounts/last-used.ts';
import { resolveSession } from '../accounts/sign-in.ts';
import type { Actor } from '../model/actor.ts';
import { SwitchyardError } from '../model/errors.ts';
import { readCookie, SESSION_COOKIE } from './cookies.ts';

/**
 * Who is calling: `Authorization: Bearer sy_…` (an API token), else the session cookie, else
 * anonymous. A bearer header that does not authenticate is an error, never a silent downgrade.
 * Both are resolved from the database on every request, with the caller's current membership:
 * a removed member's session and tokens stop working in that tenant with the next request.
 */
export async function resolveActor(
  req: FastifyRequest,
  deps: { pool: pg.Pool; lastUsed: LastUsedTracker; now: () => Date },
): Promise<{ actor: Actor; viaCookie: boolean }> {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const found = match ? await authenticateApiToken(deps.pool, match[1]!, deps.now()) : undefined;
    if (!found)
      throw new SwitchyardError(
        'E_UNAUTHENTICATED',
        'The API token is invalid, expired or revoked.',
      );
    deps.lastUsed.record(found.tenantId, found.token.id, deps.now());
    return {
      actor: {
        kind: 'token',
        tokenId: found.token.id,
        tenantId: found.tenantId,
        role: found.effectiveRole,
        creatorUserId: found.creatorUserId,
      },
      viaCookie: false,
    };
  }
  const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
  if (cookie) {
    const resolved = await resolveSession(deps.pool, cookie);
    if (resolved) {
      return {
        actor: {
          kind: 'user',
          userId: resolved.session.userId,
          sessionId: resolved.session.id,
          tenantId: resolved.role ? resolved.session.currentTenantId : null,
          role: resolved.role,
        },
        viaCookie: true,
      };
    }
  }
  return { actor: { kind: 'anonymous' }, viaCookie: false };
}
