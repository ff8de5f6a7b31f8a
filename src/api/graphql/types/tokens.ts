import { createApiToken, revokeToken } from '../../../accounts/api-tokens.ts';
import { selectApiTokens, type ApiTokenRow } from '../../../db/queries/api-tokens.ts';
import type { ApiTokenId } from '../../../model/ids.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder, RoleEnum } from '../builder.ts';
import { auditActor, inTenant, principalUserId, tenantOf } from '../context.ts';

const ApiTokenRef = builder.objectRef<ApiTokenRow>('ApiToken').implement({
  description:
    "Programmatic access to one tenant, acting for the member who created it: never with more than that member's current role, and refused (401) once they leave the tenant. The secret is shown once, by createApiToken.",
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    role: t.field({ type: RoleEnum, resolve: (r) => r.role }),
    prefix: t.exposeString('prefix', {
      description: 'The first characters of the token, to recognise it.',
    }),
    createdBy: t.exposeID('createdBy', { nullable: true }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const CreatedApiTokenRef = builder
  .objectRef<{ token: ApiTokenRow; secret: string }>('CreatedApiToken')
  .implement({
    fields: (t) => ({
      token: t.field({ type: ApiTokenRef, resolve: (r) => r.token }),
      secret: t.exposeString('secret', {
        description: 'The bearer token. Shown once: store it now.',
      }),
    }),
  });

builder.queryField('apiTokens', (t) =>
  t.field({
    type: [ApiTokenRef],
    authScopes: { admin: true },
    resolve: (_r, _a, ctx) => inTenant(ctx, (db) => selectApiTokens(db)),
  }),
);

builder.mutationField('createApiToken', (t) =>
  t.field({
    type: CreatedApiTokenRef,
    authScopes: { admin: true },
    args: {
      name: t.arg.string(),
      role: t.arg({ type: RoleEnum }),
      expiresAt: t.arg({ type: 'DateTime', required: false }),
    },
    resolve: (_root, args, ctx) => {
      const { role: creatorRole } = tenantOf(ctx);
      const createdBy = principalUserId(ctx);
      return inTenant(ctx, async (db, tenantId) => {
        const created = await createApiToken(db, {
          tenantId,
          name: args.name,
          role: args.role,
          creatorRole,
          createdBy,
          expiresAt: args.expiresAt ?? null,
          now: ctx.services.clock.now(),
        });
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'api_token.created',
          targetKind: 'api_token',
          targetId: created.token.id,
          metadata: {
            name: created.token.name,
            role: created.token.role,
            prefix: created.token.prefix,
          },
        });
        return created;
      });
    },
  }),
);

builder.mutationField('revokeApiToken', (t) =>
  t.field({
    type: ApiTokenRef,
    authScopes: { admin: true },
    description: 'Revokes a token whose role is not above yours (E_ROLE_TOO_HIGH otherwise).',
    args: { id: t.arg.id() },
    resolve: (_root, args, ctx) => {
      const { role: actorRole } = tenantOf(ctx);
      return inTenant(ctx, async (db, tenantId) => {
        const row = await revokeToken(db, { id: String(args.id) as ApiTokenId, actorRole });
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'api_token.revoked',
          targetKind: 'api_token',
          targetId: row.id,
          metadata: { prefix: row.prefix },
        });
        return row;
      });
    },
  }),
);
