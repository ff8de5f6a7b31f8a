import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isUuid, type TenantId } from '../model/ids.ts';

/**
 * Bearer secrets: API tokens (`sy_`) and invitation links (`syi_`) carry their tenant id in
 * clear (22 base64url characters) followed by 32 random bytes (43 characters). The tenant part
 * lets the server look the secret up inside that tenant's RLS scope, so no query ever searches
 * secrets across tenants; the random part is the secret. Only a sha256 of the whole token is
 * stored: with 256 bits of entropy a slow hash adds nothing and would cost every request.
 */
export const API_TOKEN_PREFIX = 'sy_';
export const INVITATION_TOKEN_PREFIX = 'syi_';
const TENANT_CHARS = 22;
const SECRET_CHARS = 43;
/** Characters shown in lists so that a person can recognise a token (prefix + tenant + 6). */
const DISPLAY_SECRET_CHARS = 6;

export type NewToken = { token: string; prefix: string; hash: Buffer };

export function generateApiToken(tenantId: TenantId): NewToken {
  return generate(API_TOKEN_PREFIX, tenantId);
}

export function generateInvitationToken(tenantId: TenantId): NewToken {
  return generate(INVITATION_TOKEN_PREFIX, tenantId);
}

/** The tenant a token claims, or null when the token is not of that kind's shape. */
export function tenantOfToken(token: string, kind: 'api' | 'invitation'): TenantId | null {
  const prefix = kind === 'api' ? API_TOKEN_PREFIX : INVITATION_TOKEN_PREFIX;
  if (!token.startsWith(prefix) || token.length !== prefix.length + TENANT_CHARS + SECRET_CHARS)
    return null;
  const raw = Buffer.from(token.slice(prefix.length, prefix.length + TENANT_CHARS), 'base64url');
  if (raw.length !== 16) return null;
  const hex = raw.toString('hex');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return isUuid(uuid) ? (uuid as TenantId) : null;
}

/** A random session secret (no tenant: a session belongs to a user). */
export function generateSessionToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function tokenMatches(token: string, storedHash: Buffer): boolean {
  const h = hashToken(token);
  return h.length === storedHash.length && timingSafeEqual(h, storedHash);
}

function generate(prefix: string, tenantId: TenantId): NewToken {
  const tenantPart = Buffer.from(tenantId.replaceAll('-', ''), 'hex').toString('base64url');
  const token = prefix + tenantPart + randomBytes(32).toString('base64url');
  return {
    token,
    prefix: token.slice(0, prefix.length + TENANT_CHARS + DISPLAY_SECRET_CHARS),
    hash: hashToken(token),
  };
}
