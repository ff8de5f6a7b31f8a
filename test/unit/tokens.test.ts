import { describe, expect, it } from 'vitest';
import type { TenantId } from '../../src/model/ids.ts';
import {
  generateApiToken,
  generateInvitationToken,
  hashToken,
  tenantOfToken,
  tokenMatches,
} from '../../src/security/tokens.ts';

const tenant = '0b5c7a52-1f0e-4d7e-9a51-3c2d1e0f9a8b' as TenantId;

describe('tokens', () => {
  it('carry their tenant and a 256-bit secret, and are stored as a hash', () => {
    const t = generateApiToken(tenant);
    expect(t.token).toMatch(/^sy_[A-Za-z0-9_-]{65}$/);
    expect(tenantOfToken(t.token, 'api')).toBe(tenant);
    expect(t.hash.equals(hashToken(t.token))).toBe(true);
    expect(tokenMatches(t.token, t.hash)).toBe(true);
    expect(t.token.startsWith(t.prefix)).toBe(true);
    expect(generateApiToken(tenant).token).not.toBe(t.token);
  });

  it('reject tokens of another kind or shape', () => {
    const invite = generateInvitationToken(tenant);
    expect(tenantOfToken(invite.token, 'invitation')).toBe(tenant);
    expect(tenantOfToken(invite.token, 'api')).toBeNull();
    expect(tenantOfToken('sy_short', 'api')).toBeNull();
    expect(tenantOfToken(generateApiToken(tenant).token + 'x', 'api')).toBeNull();
    const last = invite.token.at(-1) === 'A' ? 'B' : 'A';
    expect(tokenMatches(invite.token.slice(0, -1) + last, invite.hash)).toBe(false);
  });
});
