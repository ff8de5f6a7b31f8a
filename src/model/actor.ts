import type { ApiTokenId, TenantId, UserId } from './ids.ts';
import type { Role } from './roles.ts';

/** Who is making a request, resolved once per request by the API's authentication. */
export type Actor =
  | {
      kind: 'user';
      userId: UserId;
      sessionId: string;
      /** The tenant the session works in, and the user's role there (null: none chosen yet). */
      tenantId: TenantId | null;
      role: Role | null;
    }
  | {
      kind: 'token';
      tokenId: ApiTokenId;
      tenantId: TenantId;
      /** The token's effective role: the lower of its own and its creator's current role. */
      role: Role;
      /** The member the token acts for (its creator); tokens it creates act for them too. */
      creatorUserId: UserId;
    }
  | { kind: 'anonymous' };

/** Request facts recorded with audit events and the access log. */
export type RequestMeta = { ip: string | null; requestId: string | null };

export function actorAudit(actor: Actor): {
  actorKind: 'user' | 'token' | 'system';
  actorId: string | null;
} {
  switch (actor.kind) {
    case 'user':
      return { actorKind: 'user', actorId: actor.userId };
    case 'token':
      return { actorKind: 'token', actorId: actor.tokenId };
    case 'anonymous':
      return { actorKind: 'system', actorId: null };
  }
}
