/**
 * A key provider holds the key-encryption key (KEK) and wraps/unwraps tenant data keys with
 * it. Switchyard never sees Vault's KEK; the local provider's KEK is the master key ring.
 * A provider that is down answers E_KMS_UNAVAILABLE (retryable), never plaintext.
 */
import { SwitchyardError } from '../../model/errors.ts';

/** What a data key is bound to when wrapped: unwrapping under another context fails. */
export type WrapContext = { tenantId: string; dataKeyId: string };

export type WrappedKey = { wrapped: Buffer; kekId: string; kekVersion: number };

export interface KeyProvider {
  readonly kind: 'local' | 'vault';
  /** Names the key ring: `local` or `vault:<mount>/<key>`; stored with every wrapped key. */
  readonly kekId: string;
  /** Wraps with the latest KEK version. */
  wrap(plaintextKey: Buffer, ctx: WrapContext): Promise<WrappedKey>;
  unwrap(key: WrappedKey, ctx: WrapContext): Promise<Buffer>;
  /** Re-wraps with the latest KEK version (Vault: without the plaintext leaving Vault). */
  rewrap(key: WrappedKey, ctx: WrapContext): Promise<WrappedKey>;
  /** The latest KEK version, which wrap() uses. */
  latestVersion(): Promise<number>;
  /** Makes a new KEK version the latest; returns it. */
  rotate(): Promise<number>;
  /** Makes every version up to and including `version` unusable for unwrapping. */
  retire(version: number): Promise<void>;
}

export function kmsUnavailable(what: string, cause?: unknown): SwitchyardError {
  return new SwitchyardError(
    'E_KMS_UNAVAILABLE',
    `The key provider is unavailable (${what}); retry later.`,
    { what },
    cause,
  );
}

export function kmsRejected(what: string): SwitchyardError {
  return new SwitchyardError('E_KMS_REJECTED', `The key provider refused the request: ${what}`, {
    what,
  });
}
