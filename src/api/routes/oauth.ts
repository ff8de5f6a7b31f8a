/**
 * GET /oauth/callback?code&state: where the authorization server sends the user back after
 * "Connect" (src/api/oauth/connect.ts). Answers with a redirect to the web app's connections
 * page, saying what happened: `?oauth=connected&connection=<id>` or `?oauth_error=<code>`.
 */
import type { FastifyInstance } from 'fastify';
import { resolveSession } from '../../accounts/sign-in.ts';
import { isSwitchyardError } from '../../model/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { readCookie, SESSION_COOKIE } from '../cookies.ts';
import { completeOAuthConnection, type CallbackDeps } from '../oauth/connect.ts';

export type OAuthRouteOptions = CallbackDeps & { publicUrl: string; logger: Logger };

export function registerOAuthCallback(app: FastifyInstance, opts: OAuthRouteOptions): void {
  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/oauth/callback',
    async (req, reply) => {
      const back = (params: Record<string, string>) =>
        reply
          .header('cache-control', 'no-store')
          .header('referrer-policy', 'no-referrer')
          .redirect(`${opts.publicUrl}/connections?${new URLSearchParams(params)}`, 303);
      const q = req.query;
      try {
        const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
        const resolved = cookie ? await resolveSession(opts.pool, cookie) : undefined;
        const tenantId = resolved?.session.currentTenantId;
        if (!resolved || !resolved.role || !tenantId || typeof q.state !== 'string' || !q.state)
          return back({ oauth_error: 'E_OAUTH_STATE_INVALID' });
        const connectionId = await completeOAuthConnection(
          opts,
          {
            userId: resolved.session.userId,
            sessionId: resolved.session.id,
            tenantId,
          },
          {
            state: q.state,
            ...(typeof q.code === 'string' ? { code: q.code } : {}),
            ...(typeof q.error === 'string' ? { error: q.error } : {}),
            ip: req.ip,
            requestId: req.id,
          },
        );
        return back({ oauth: 'connected', connection: connectionId });
      } catch (err) {
        const code = isSwitchyardError(err) ? err.code : 'E_INTERNAL';
        const connectionId = isSwitchyardError(err) ? err.details.connectionId : undefined;
        if (code === 'E_INTERNAL') opts.logger.error({ err }, 'OAuth callback failed');
        else opts.logger.info({ code }, 'OAuth callback refused');
        return back({
          oauth_error: code,
          ...(typeof connectionId === 'string' ? { connection: connectionId } : {}),
        });
      }
    },
  );
}
