import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API tokens: `sy_` + 32 random bytes (base64url). Only the sha256 is stored; tokens carry
 * 256 bits of entropy, so a slow hash adds nothing against guessing and would cost every request.
 */
export const API_TOKEN_PREFIX = 'sy_';
const PREFIX_LENGTH = 11;

export type NewApiToken = { token: string; prefix: string; hash: Buffer };

export function generateApiToken(): NewApiToken {
  const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, prefix: token.slice(0, PREFIX_LENGTH), hash: hashToken(token) };
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function tokenMatches(token: string, storedHash: Buffer): boolean {
  const h = hashToken(token);
  return h.length === storedHash.length && timingSafeEqual(h, storedHash);
}
