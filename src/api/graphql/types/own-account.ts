import { changeOwnPassword, signOutOtherSessions } from '../../../accounts/change-password.ts';
import { selectLiveUserSessions, type LiveSessionRow } from '../../../db/queries/sessions.ts';
import { withUser } from '../../../db/tenant.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';

/** The signed-in user and this session: these fields are about a person, not an API token. */
function signedIn(ctx: GraphQLContext) {
  const a = ctx.actor;
  if (a.kind !== 'user')
    throw new SwitchyardError('E_FORBIDDEN', 'Only a signed-in user has a password and sessions.');
  return { userId: a.userId, sessionId: a.sessionId, ...ctx.meta };
}

const SessionRef = builder
  .objectRef<LiveSessionRow & { current: boolean }>('UserSession')
  .implement({
    description: 'A browser where the user is signed in.',
    fields: (t) => ({
      id: t.exposeID('id'),
      current: t.exposeBoolean('current', { description: 'The session making this request.' }),
      ip: t.exposeString('ip', { nullable: true }),
      userAgent: t.exposeString('userAgent', { nullable: true }),
      createdAt: t.expose('createdAt', { type: 'DateTime' }),
      lastSeenAt: t.expose('lastSeenAt', {
        type: 'DateTime',
        description: 'Moves at most once a minute.',
      }),
      expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    }),
  });

builder.queryField('mySessions', (t) =>
  t.field({
    type: [SessionRef],
    authScopes: { user: true },
    description: 'The signed-in user’s live sessions, most recently used first (at most 100).',
    resolve: async (_r, _a, ctx) => {
      const me = signedIn(ctx);
      const rows = await withUser(ctx.services.pool, me.userId, (db) =>
        selectLiveUserSessions(db, { userId: me.userId }),
      );
      return rows.map((r) => ({ ...r, current: r.id === me.sessionId }));
    },
  }),
);

builder.mutationField('changePassword', (t) =>
  t.int({
    authScopes: { user: true },
    description:
      'Changes the signed-in user’s password, checking the current one first; signs out every other session (answers how many); audited in each tenant.',
    args: { currentPassword: t.arg.string(), newPassword: t.arg.string() },
    resolve: async (_r, args, ctx) =>
      (await changeOwnPassword(ctx.services.pool, { ...signedIn(ctx), ...args })).sessionsEnded,
  }),
);

builder.mutationField('signOutOtherSessions', (t) =>
  t.int({
    authScopes: { user: true },
    description:
      'Signs the user out of every session but this one; answers how many ended; audited.',
    resolve: (_r, _a, ctx) => signOutOtherSessions(ctx.services.pool, signedIn(ctx)),
  }),
);
