import {
  acceptInvitation,
  createInvitation,
  revokeInvitationById,
} from '../../../accounts/invitations.ts';
import { changeMemberRole, removeMember } from '../../../accounts/members.ts';
import { selectInvitations, type InvitationRow } from '../../../db/queries/invitations.ts';
import {
  selectMembers,
  selectMembership,
  type MemberRow,
} from '../../../db/queries/memberships.ts';
import type { UserId } from '../../../model/ids.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder, RoleEnum } from '../builder.ts';
import { auditActor, inTenant, tenantOf } from '../context.ts';
import { pageRef } from '../page-type.ts';
import { nameCursor, pageSize, searchTerm, toPage } from '../pagination.ts';

const MemberRef = builder.objectRef<MemberRow>('Member').implement({
  fields: (t) => ({
    userId: t.exposeID('userId'),
    email: t.exposeString('email'),
    role: t.field({ type: RoleEnum, resolve: (m) => m.role }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const InvitationRef = builder.objectRef<InvitationRow>('Invitation').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    email: t.exposeString('email'),
    role: t.field({ type: RoleEnum, resolve: (i) => i.role }),
    invitedBy: t.exposeID('invitedBy', { nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    acceptedAt: t.expose('acceptedAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const CreatedInvitationRef = builder
  .objectRef<{
    invitation: InvitationRow;
    link: string | null;
    token: string | null;
    emailed: boolean;
  }>('CreatedInvitation')
  .implement({
    fields: (t) => ({
      invitation: t.field({ type: InvitationRef, resolve: (r) => r.invitation }),
      emailed: t.exposeBoolean('emailed', {
        description: 'True when the link was sent by mail (SMTP_URL is set).',
      }),
      token: t.exposeString('token', {
        nullable: true,
        description:
          'The one-time invitation secret, shown once when no mail is configured (null when mailed).',
      }),
      link: t.exposeString('link', {
        nullable: true,
        description:
          'The link to pass to the invitee, shown once when no mail is configured (null when mailed).',
      }),
    }),
  });

const MemberPageRef = pageRef('MemberPage', MemberRef, 'members');

builder.queryField('members', (t) =>
  t.field({
    type: MemberPageRef,
    authScopes: { viewer: true },
    description:
      'By email, with cursor pagination (`after` = a previous `endCursor`); `search` keeps the emails containing it.',
    args: {
      search: t.arg.string({ required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_r, args, ctx) => {
      const limit = pageSize(args.first);
      const key = nameCursor(args.after);
      const search = searchTerm(args.search);
      return inTenant(ctx, async (db, tenantId) =>
        toPage(
          await selectMembers(db, {
            tenantId,
            search,
            after: key && { email: key.name, userId: key.id },
            limit: limit + 1,
          }),
          limit,
          (m) => [m.email, m.userId],
        ),
      );
    },
  }),
);

builder.queryField('invitations', (t) =>
  t.field({
    type: [InvitationRef],
    authScopes: { admin: true },
    resolve: (_r, _a, ctx) => inTenant(ctx, (db) => selectInvitations(db)),
  }),
);

builder.mutationField('inviteMember', (t) =>
  t.field({
    type: CreatedInvitationRef,
    authScopes: { admin: true },
    args: { email: t.arg.string(), role: t.arg({ type: RoleEnum }) },
    resolve: (_root, args, ctx) => {
      const { role: inviterRole, userId } = tenantOf(ctx);
      return inTenant(ctx, async (db, tenantId) => {
        const created = await createInvitation(db, {
          tenantId,
          email: args.email,
          role: args.role,
          inviterRole,
          invitedBy: userId,
          ttlMs: ctx.services.settings.invitationTtlMs,
          now: ctx.services.clock.now(),
        });
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'invitation.sent',
          targetKind: 'invitation',
          targetId: created.invitation.id,
          metadata: { email: created.invitation.email, role: created.invitation.role },
        });
        const link = `${ctx.services.settings.publicUrl}/invitations/accept#${created.token}`;
        const mailer = ctx.services.mailer;
        if (!mailer)
          return { invitation: created.invitation, token: created.token, link, emailed: false };
        // Sent inside the transaction: if the mail server refuses, no invitation is left behind.
        await mailer.send({
          to: created.invitation.email,
          subject: 'You are invited to Switchyard',
          text: `You have been invited to join a Switchyard tenant as ${created.invitation.role}.\n\nAccept: ${link}\n\nThe link works once and expires ${created.invitation.expiresAt.toISOString()}.`,
        });
        return { invitation: created.invitation, token: null, link: null, emailed: true };
      });
    },
  }),
);

builder.mutationField('revokeInvitation', (t) =>
  t.field({
    type: InvitationRef,
    authScopes: { admin: true },
    args: { id: t.arg.id() },
    resolve: (_root, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const row = await revokeInvitationById(db, String(args.id));
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'invitation.revoked',
          targetKind: 'invitation',
          targetId: row.id,
        });
        return row;
      }),
  }),
);

builder.mutationField('acceptInvitation', (t) =>
  t.field({
    type: MemberRef,
    description:
      'Accepts an invitation: signed in (as the invited email) or as a new user choosing a password.',
    args: { token: t.arg.string(), password: t.arg.string({ required: false }) },
    resolve: async (_root, args, ctx) => {
      const accepted = await acceptInvitation(ctx.services.pool, {
        token: args.token,
        signedInUserId: ctx.actor.kind === 'user' ? ctx.actor.userId : null,
        password: args.password ?? null,
        ...ctx.meta,
      });
      const { withTenant } = await import('../../../db/tenant.ts');
      const me = await withTenant(ctx.services.pool, accepted.tenantId, (db) =>
        selectMembership(db, { userId: accepted.userId }),
      );
      if (!me) throw new Error('membership vanished after acceptance');
      return me;
    },
  }),
);

builder.mutationField('changeMemberRole', (t) =>
  t.boolean({
    authScopes: { admin: true },
    args: { userId: t.arg.id(), role: t.arg({ type: RoleEnum }) },
    resolve: (_root, args, ctx) => {
      const { role: actorRole } = tenantOf(ctx);
      return inTenant(ctx, async (db, tenantId) => {
        const userId = String(args.userId) as UserId;
        await changeMemberRole(db, { userId, role: args.role, actorRole });
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'membership.role_changed',
          targetKind: 'user',
          targetId: userId,
          metadata: { role: args.role },
        });
        return true;
      });
    },
  }),
);

builder.mutationField('removeMember', (t) =>
  t.boolean({
    authScopes: { admin: true },
    args: { userId: t.arg.id() },
    resolve: (_root, args, ctx) => {
      const { role: actorRole } = tenantOf(ctx);
      return inTenant(ctx, async (db, tenantId) => {
        const userId = String(args.userId) as UserId;
        await removeMember(db, { userId, actorRole });
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'membership.removed',
          targetKind: 'user',
          targetId: userId,
        });
        return true;
      });
    },
  }),
);
