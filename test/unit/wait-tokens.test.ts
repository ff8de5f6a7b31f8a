/**
 * Wait tokens (security/wait-tokens.ts) and the checks around them: a token is bound to its
 * tenant, run and step under its key; a changed character, another key, run, step or tenant
 * fails; the parser refuses malformed tokens; the executor wrapper finds the waits a step
 * references.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { waitReferencesIn } from '../../src/cli/wait-links-executor.ts';
import type { RunId, TenantId } from '../../src/model/ids.ts';
import {
  formatWaitToken,
  parseWaitToken,
  waitTokenMatches,
} from '../../src/security/wait-tokens.ts';

const key = randomBytes(32);
const keyId = randomUUID();
const t = {
  tenantId: randomUUID() as TenantId,
  runId: randomUUID() as RunId,
  stepId: 'approve',
};

describe('wait tokens', () => {
  it('open their own wait only', () => {
    const token = formatWaitToken(key, keyId, t);
    const parsed = parseWaitToken(token)!;
    expect(parsed).toMatchObject({ stepId: 'approve', tenantId: t.tenantId, keyId });
    expect(waitTokenMatches(key, parsed, t)).toBe(true);
    expect(waitTokenMatches(randomBytes(32), parsed, t)).toBe(false);
    expect(waitTokenMatches(key, parsed, { ...t, runId: randomUUID() as RunId })).toBe(false);
    expect(waitTokenMatches(key, parsed, { ...t, stepId: 'other' })).toBe(false);
    expect(waitTokenMatches(key, parsed, { ...t, tenantId: randomUUID() as TenantId })).toBe(false);
    // Not the last character: in base64url its lowest bits can be padding that decodes to
    // the same bytes (a 1-in-16 flake); the one before it carries six bits of the MAC.
    const i = token.length - 2;
    const flipped = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
    const p2 = parseWaitToken(flipped);
    expect(p2 === null || !waitTokenMatches(key, p2, t)).toBe(true);
  });

  it('refuse malformed tokens', () => {
    const token = formatWaitToken(key, keyId, t);
    for (const bad of [
      '',
      'sy_abc',
      token.replace('syw_', 'sy_'),
      token.replace('approve.', 'Approve.'),
      token.replace('approve.', 'approve'),
      token.slice(0, -1),
      `${token}A`,
    ])
      expect(parseWaitToken(bad)).toBeNull();
  });
});

describe('run.waits references', () => {
  it('finds the waits a step references, also in a ?? chain and by index', () => {
    expect([
      ...waitReferencesIn({
        a: 'Approve: {{ run.waits.approve.url }}',
        b: ['{{ run.waits["late"].token ?? "none" }}'],
        c: '{{ run.id }} {{ steps.waits.output }}',
      }),
    ]).toEqual(['approve', 'late']);
  });
});
