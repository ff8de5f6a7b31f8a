import type pg from 'pg';
import {
  insertApiToken,
  revokeApiToken,
  selectApiTokenByHash,
  selectApiTokenById,
  type ApiTokenRow,
} from '../db/queries/api-tokens.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { ApiTokenId, TenantId, UserId } from '../model/ids.ts';
import { roleAtLeast, type Role } from '../model/roles.ts';
import type { Queryable } from '../db/pool.ts';
import { withTenant } from '../db/tenant.ts';
import { generateApiToken, hashToken, tenantOfToken } from '../security/tokens.ts';

export type CreatedApiToken = { token: ApiTokenRow; secret: string };

/** Creates a token with a role not above the creator's; the secret is returned once. */
export async function createApiToken(
  db: Queryable,
  p: {
    tenantId: TenantId;
    name: string;
    role: Role;
    creatorRole: Role;
    createdBy: UserId | null;
    expiresAt: Date | null;
    now: Date;
  },
): Promise<CreatedApiToken> {
  const name = p.name.trim();
  if (name.length === 0 || name.length > 200) {
    throw new SwitchyardError('E_VALIDATION', 'Token name must be 1 to 200 characters.', {
      field: 'name',
    });
  }
  if (!roleAtLeast(p.creatorRole, p.role)) {
    throw new SwitchyardError(
      'E_ROLE_TOO_HIGH',
      `A ${p.creatorRole} cannot create a token with the role ${p.role}.`,
      {
        field: 'role',
      },
    );
  }
  if (p.expiresAt && p.expiresAt <= p.now) {
    throw new SwitchyardError('E_VALIDATION', 'expiresAt must be in the future.', {
      field: 'expiresAt',
    });
  }
  const generated = generateApiToken(p.tenantId);
  const token = await insertApiToken(db, {
    tenantId: p.tenantId,
    name,
    role: p.role,
    prefix: generated.prefix,
    secretHash: generated.hash,
    createdBy: p.createdBy,
    expiresAt: p.expiresAt,
  });
  return { token, secret: generated.token };
}

/**
 * Revokes a token whose role is not above the actor's: an admin cannot lock the owner out by
 * revoking the owner's tokens.
 */
export async function revokeToken(
  db: Queryable,
  p: { id: ApiTokenId; actorRole: Role },
): Promise<ApiTokenRow> {
  const target = await selectApiTokenById(db, { id: p.id });
  if (!target) throw new SwitchyardError('E_NOT_FOUND', 'No such API token.');
  if (!roleAtLeast(p.actorRole, target.role)) {
    throw new SwitchyardError(
      'E_ROLE_TOO_HIGH',
      `A ${p.actorRole} cannot revoke a token with the role ${target.role}.`,
      { field: 'id' },
    );
  }
  const row = await revokeApiToken(db, { id: p.id });
  if (!row) throw new SwitchyardError('E_NOT_FOUND', 'No such API token.');
  return row;
}

export type AuthenticatedToken = {
  tenantId: TenantId;
  token: ApiTokenRow;
  /** The person the token acts for: its creator, still a member of the tenant. */
  creatorUserId: UserId;
  /** The lower of the token's role and its creator's current role in the tenant. */
  effectiveRole: Role;
};

/**
 * The live token for a bearer secret, looked up inside the tenant the token names. A token
 * acts for its creator and never with more than the creator has now: a demoted creator's
 * tokens are demoted, and a creator who left the tenant (or whose account was deleted) leaves
 * tokens that no longer authenticate. Checked on every request (no cache), so it is at once.
 */
export async function authenticateApiToken(
  pool: pg.Pool,
  secret: string,
  now: Date,
): Promise<AuthenticatedToken | undefined> {
  const tenantId = tenantOfToken(secret, 'api');
  if (!tenantId) return undefined;
  const found = await withTenant(pool, tenantId, (db) =>
    selectApiTokenByHash(db, { secretHash: hashToken(secret) }),
  );
  if (!found || found.revokedAt || (found.expiresAt && found.expiresAt <= now)) return undefined;
  const { creatorRole, ...token } = found;
  if (!creatorRole || !token.createdBy) return undefined;
  return {
    tenantId,
    token,
    creatorUserId: token.createdBy,
    effectiveRole: roleAtLeast(creatorRole, token.role) ? token.role : creatorRole,
  };
}
