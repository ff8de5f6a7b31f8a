import { setupFirstTenant } from '../../../accounts/setup.ts';
import { resolveSession, signIn, signOut, switchTenant } from '../../../accounts/sign-in.ts';
import { selectMembershipsOfUser } from '../../../db/queries/memberships.ts';
import { selectVisibleTenants, updateTenantName } from '../../../db/queries/tenants.ts';
import { selectUserById } from '../../../db/queries/users.ts';
import { withTenant, withUser } from '../../../db/tenant.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import type { TenantId, UserId } from '../../../model/ids.ts';
import type { Role } from '../../../model/roles.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { sessionCookie } from '../../cookies.ts';
import { builder, RoleEnum } from '../builder.ts';
import { auditActor, inTenant, tenantOf, type GraphQLContext } from '../context.ts';

type TenantShape = { id: TenantId; name: string; role: Role };
const TenantRef = builder.objectRef<TenantShape>('Tenant').implement({
  description: 'An organisation, with the caller’s role in it.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    role: t.field({ type: RoleEnum, resolve: (p) => p.role }),
  }),
});

type ViewerShape = {
  kind: 'user' | 'token';
  userId: UserId | null;
  email: string | null;
  tenantId: TenantId | null;
  role: Role | null;
};
const ViewerRef = builder.objectRef<ViewerShape>('Viewer').implement({
  description: 'Who the caller is: a signed-in user or an API token.',
  fields: (t) => ({
    kind: t.exposeString('kind'),
    userId: t.exposeID('userId', { nullable: true }),
    email: t.exposeString('email', { nullable: true }),
    currentTenant: t.field({
      type: TenantRef,
      nullable: true,
      resolve: async (v, _args, ctx) => {
        const { tenantId, role } = v;
        if (!tenantId || !role) return null;
        // The viewer's own tenant, not the request's: signIn resolves this before its cookie exists.
        const tenants = await withTenant(ctx.services.pool, tenantId, (db) =>
          selectVisibleTenants(db),
        );
        const t = tenants.find((x) => x.id === tenantId);
        return t ? { id: t.id, name: t.name, role } : null;
      },
    }),
    tenants: t.field({
      type: [TenantRef],
      description: 'Every tenant the user belongs to (an API token sees its own).',
      resolve: async (v, _args, ctx) => {
        if (v.kind === 'token' || !v.userId) {
          const tenants = await inTenant(ctx, (db) => selectVisibleTenants(db));
          return tenants.map((x) => ({ id: x.id, name: x.name, role: v.role ?? 'viewer' }));
        }
        const userId = v.userId;
        return withUser(ctx.services.pool, userId, async (db) => {
          const roles = new Map(
            (await selectMembershipsOfUser(db, { userId })).map((m) => [m.tenantId, m.role]),
          );
          return (await selectVisibleTenants(db)).flatMap((x) => {
            const role = roles.get(x.id);
            return role ? [{ id: x.id, name: x.name, role }] : [];
          });
        });
      },
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: ViewerRef,
    authScopes: { authenticated: true },
    resolve: async (_root, _args, ctx): Promise<ViewerShape> => {
      const a = ctx.actor;
      if (a.kind === 'token')
        return { kind: 'token', userId: null, email: null, tenantId: a.tenantId, role: a.role };
      if (a.kind !== 'user') throw new SwitchyardError('E_UNAUTHENTICATED');
      // users has row security: a user's own row is visible in withUser().
      const user = await withUser(ctx.services.pool, a.userId, (db) =>
        selectUserById(db, { id: a.userId }),
      );
      return {
        kind: 'user',
        userId: a.userId,
        email: user?.email ?? null,
        tenantId: a.tenantId,
        role: a.role,
      };
    },
  }),
);

function setSessionCookie(ctx: GraphQLContext, token: string, expiresAt: Date): void {
  const maxAgeS = (expiresAt.getTime() - ctx.services.clock.now().getTime()) / 1000;
  void ctx.reply.header(
    'set-cookie',
    sessionCookie(token, { maxAgeS, secure: ctx.services.settings.secureCookies }),
  );
}

/** Signs in, sets the session cookie, and answers who is now signed in and where. */
async function signInWithCookie(
  ctx: GraphQLContext,
  email: string,
  password: string,
): Promise<ViewerShape> {
  const signedIn = await signIn(ctx.services.pool, ctx.services.settings.signIn, {
    email,
    password,
    userAgent: ctx.reply.request.headers['user-agent'] ?? null,
    ...ctx.meta,
  });
  setSessionCookie(ctx, signedIn.sessionToken, signedIn.session.expiresAt);
  const resolved = await resolveSession(ctx.services.pool, signedIn.sessionToken);
  const user = await withUser(ctx.services.pool, signedIn.userId, (db) =>
    selectUserById(db, { id: signedIn.userId }),
  );
  return {
    kind: 'user',
    userId: signedIn.userId,
    email: user?.email ?? null,
    tenantId: signedIn.session.currentTenantId,
    role: resolved?.role ?? null,
  };
}

builder.mutationField('signIn', (t) =>
  t.field({
    type: ViewerRef,
    description: 'Signs in with email and password; sets the HttpOnly session cookie.',
    args: { email: t.arg.string(), password: t.arg.string() },
    resolve: (_root, args, ctx) => signInWithCookie(ctx, args.email, args.password),
  }),
);

builder.mutationField('signOut', (t) =>
  t.boolean({
    authScopes: { user: true },
    resolve: async (_root, _args, ctx) => {
      if (ctx.actor.kind === 'user') await signOut(ctx.services.pool, ctx.actor.sessionId);
      void ctx.reply.header(
        'set-cookie',
        sessionCookie('', { maxAgeS: 0, secure: ctx.services.settings.secureCookies }),
      );
      return true;
    },
  }),
);

builder.mutationField('switchTenant', (t) =>
  t.field({
    type: TenantRef,
    authScopes: { user: true },
    args: { tenantId: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      if (ctx.actor.kind !== 'user') throw new SwitchyardError('E_FORBIDDEN');
      const tenantId = String(args.tenantId) as TenantId;
      const role = await switchTenant(ctx.services.pool, {
        sessionId: ctx.actor.sessionId,
        userId: ctx.actor.userId,
        tenantId,
      });
      const tenants = await withUser(ctx.services.pool, ctx.actor.userId, (db) =>
        selectVisibleTenants(db),
      );
      const t = tenants.find((x) => x.id === tenantId);
      if (!t) throw new SwitchyardError('E_NOT_FOUND', 'No such tenant.');
      return { id: t.id, name: t.name, role };
    },
  }),
);

builder.mutationField('setup', (t) =>
  t.field({
    type: ViewerRef,
    description:
      'First start only: creates the first tenant and its owner, and signs the owner in.',
    args: { tenantName: t.arg.string(), email: t.arg.string(), password: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      await setupFirstTenant(ctx.services.pool, { ...args, ...ctx.meta });
      return signInWithCookie(ctx, args.email, args.password);
    },
  }),
);

builder.mutationField('renameTenant', (t) =>
  t.field({
    type: TenantRef,
    authScopes: { owner: true },
    args: { name: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const name = args.name.trim();
      if (name.length === 0 || name.length > 200) {
        throw new SwitchyardError('E_VALIDATION', 'Tenant name must be 1 to 200 characters.', {
          field: 'name',
        });
      }
      const { role } = tenantOf(ctx);
      return inTenant(ctx, async (db, tenantId) => {
        const row = await updateTenantName(db, { id: tenantId, name });
        if (!row) throw new SwitchyardError('E_NOT_FOUND');
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'tenant.renamed',
          targetKind: 'tenant',
          targetId: tenantId,
          metadata: { name },
        });
        return { id: row.id, name: row.name, role };
      });
    },
  }),
);
