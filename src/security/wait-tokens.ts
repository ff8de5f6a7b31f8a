/**
 * Wait tokens: the capability that resumes one `waitForEvent` step of one run (resumeRun, the
 * resume webhook). A token is known before its wait starts (`{{ run.waits.<id>.token }}`, so an
 * earlier step can mail an approval link) and is never stored: it is derived, each time it is
 * needed, as HMAC-SHA256 over (tenant, run, step) with a key derived (HKDF) from the tenant's
 * data key (secret-box.ts). It therefore opens nothing in another run, step or tenant, and it
 * works under either key provider (local or Vault) without a new secret to manage.
 *
 * Shape: `syw_<stepId>.<tenant><dataKeyId><mac>` (22 + 22 + 43 base64url characters). The step
 * id lets resumeRun(runId, token) find the wait; the tenant lets the unauthenticated webhook
 * look the key up inside that tenant's row security (as API tokens do, tokens.ts); the data key
 * id keeps a token valid after the tenant's active key changes, until that key is destroyed
 * (re-keying a tenant revokes its outstanding wait tokens: docs/security.md).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/pool.ts';
import { isUuid, type RunId, type TenantId } from '../model/ids.ts';
import type { SecretBox } from './crypto/secret-box.ts';

export const WAIT_TOKEN_PREFIX = 'syw_';
const PURPOSE = 'wait-token:v1';
const UUID_CHARS = 22;
const MAC_CHARS = 43;
const STEP_ID = /^[a-z][a-z0-9_]{0,99}$/;

export type WaitTarget = { tenantId: TenantId; runId: RunId; stepId: string };

/** What a token says in clear (nothing of it is trusted before its MAC is checked). */
export type ParsedWaitToken = { stepId: string; tenantId: TenantId; keyId: string; mac: Buffer };

export type WaitLink = { token: string; url: string };

function uuidToB64(uuid: string): string {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex').toString('base64url');
}

function b64ToUuid(s: string): string | null {
  const raw = Buffer.from(s, 'base64url');
  if (raw.length !== 16 || raw.toString('base64url') !== s) return null;
  const h = raw.toString('hex');
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return isUuid(uuid) ? uuid : null;
}

function macOf(key: Buffer, t: WaitTarget): Buffer {
  // Newline-separated: none of the three can hold one (uuids and `^[a-z][a-z0-9_]*$`).
  return createHmac('sha256', key).update(`wait\n${t.tenantId}\n${t.runId}\n${t.stepId}`).digest();
}

/** The token for `t` under the derived key `key` (of data key `keyId`). Pure. */
export function formatWaitToken(key: Buffer, keyId: string, t: WaitTarget): string {
  return `${WAIT_TOKEN_PREFIX}${t.stepId}.${uuidToB64(t.tenantId)}${uuidToB64(keyId)}${macOf(key, t).toString('base64url')}`;
}

/** The parts of a well-formed token, or null (then it can match nothing). */
export function parseWaitToken(token: string): ParsedWaitToken | null {
  if (!token.startsWith(WAIT_TOKEN_PREFIX)) return null;
  const dot = token.indexOf('.', WAIT_TOKEN_PREFIX.length);
  if (dot < 0) return null;
  const stepId = token.slice(WAIT_TOKEN_PREFIX.length, dot);
  const rest = token.slice(dot + 1);
  if (!STEP_ID.test(stepId) || rest.length !== 2 * UUID_CHARS + MAC_CHARS) return null;
  const tenantId = b64ToUuid(rest.slice(0, UUID_CHARS));
  const keyId = b64ToUuid(rest.slice(UUID_CHARS, 2 * UUID_CHARS));
  const mac = Buffer.from(rest.slice(2 * UUID_CHARS), 'base64url');
  if (!tenantId || !keyId || mac.length !== 32) return null;
  return { stepId, tenantId: tenantId as TenantId, keyId, mac };
}

/** Whether `parsed` is the token of `t` under `key`, compared in constant time. Pure. */
export function waitTokenMatches(key: Buffer, parsed: ParsedWaitToken, t: WaitTarget): boolean {
  if (parsed.tenantId !== t.tenantId || parsed.stepId !== t.stepId) return false;
  const expected = macOf(key, t);
  return timingSafeEqual(expected, parsed.mac);
}

/** The resume webhook's path for a wait (routes/resume-hooks.ts serves it). */
export function resumePath(runId: string, stepId: string): string {
  return `/v1/runs/${runId}/waits/${stepId}/resume`;
}

export type WaitTokens = {
  /**
   * The token and webhook URL of each named wait of a run, in the caller's tenant
   * transaction (the active data key, read and unwrapped once per call; cached by the box).
   */
  linksFor(
    db: Queryable,
    run: Omit<WaitTarget, 'stepId'>,
    stepIds: readonly string[],
  ): Promise<Record<string, WaitLink>>;
  /** Whether `token` opens `t`'s wait, in `t.tenantId`'s transaction. */
  verify(db: Queryable, token: string, t: WaitTarget): Promise<boolean>;
};

export function createWaitTokens(deps: { secretBox: SecretBox; publicUrl: string }): WaitTokens {
  const base = deps.publicUrl.replace(/\/$/, '');
  return {
    async linksFor(db, run, stepIds) {
      const out: Record<string, WaitLink> = {};
      if (stepIds.length === 0) return out;
      const derived = await deps.secretBox.deriveKey(db, run.tenantId, PURPOSE);
      if (!derived) return out;
      for (const stepId of stepIds) {
        out[stepId] = {
          token: formatWaitToken(derived.key, derived.keyId, { ...run, stepId }),
          url: `${base}${resumePath(run.runId, stepId)}`,
        };
      }
      return out;
    },
    async verify(db, token, t) {
      const parsed = parseWaitToken(token);
      if (!parsed || parsed.tenantId !== t.tenantId || parsed.stepId !== t.stepId) return false;
      const derived = await deps.secretBox.deriveKey(db, t.tenantId, PURPOSE, parsed.keyId);
      return derived !== null && waitTokenMatches(derived.key, parsed, t);
    },
  };
}
