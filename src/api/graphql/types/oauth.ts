import type { ConnectionId } from '../../../model/ids.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { startOAuthConnection } from '../../oauth/connect.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant } from '../context.ts';

const OAuthStartRef = builder
  .objectRef<{ authorizeUrl: string; expiresAt: Date }>('OAuthStart')
  .implement({
    description: 'Where to send the browser to grant an oauth2_authorization_code connection.',
    fields: (t) => ({
      authorizeUrl: t.exposeString('authorizeUrl', {
        description:
          'The provider’s authorize URL with client_id, redirect_uri (`PUBLIC_URL/oauth/callback`), scope, a single-use `state` and a PKCE S256 challenge. Open it in the same browser session.',
      }),
      expiresAt: t.expose('expiresAt', {
        type: 'DateTime',
        description: 'The state is refused after this (10 minutes).',
      }),
    }),
  });

builder.mutationField('startOAuthConnection', (t) =>
  t.field({
    type: OAuthStartRef,
    authScopes: { editor: true },
    description:
      'Starts "Connect" for an oauth2_authorization_code connection (docs/api.md, "OAuth connections"). Only a signed-in user (a session, not an API token) can: the callback checks that the same session comes back.',
    args: { connectionId: t.arg.id() },
    resolve: (_r, args, ctx) => {
      const a = ctx.actor;
      if (a.kind !== 'user')
        throw new SwitchyardError(
          'E_FORBIDDEN',
          'Connecting through OAuth needs a signed-in browser session, not an API token.',
        );
      return inTenant(ctx, async (db, tenantId) => {
        const connectionId = String(args.connectionId) as ConnectionId;
        const started = await startOAuthConnection(db, ctx.services.secrets, {
          tenantId,
          userId: a.userId,
          sessionId: a.sessionId,
          connectionId,
          publicUrl: ctx.services.settings.publicUrl,
          now: ctx.services.clock.now(),
        });
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'connection.oauth_started',
          targetKind: 'connection',
          targetId: connectionId,
        });
        return started;
      });
    },
  }),
);
