/**
 * The local provider: the KEK is a ring of 32-byte master keys, one per version, from
 * SWITCHYARD_MASTER_KEY or a key file (embedded default: <data dir>/master.key, made on
 * first start with mode 0600). Data keys are wrapped with AES-256-GCM under the latest
 * version; the associated data binds each wrapped key to its tenant, data key and KEK version.
 *
 * Wrapped form: 0x01 | KEK version (uint32 BE) | nonce (12) | ciphertext (32) | tag (16).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { decryptFailed, encodeParts } from '../crypto/aead.ts';
import { kmsRejected, type KeyProvider, type WrapContext, type WrappedKey } from './provider.ts';
import type { MasterKeyRing } from './master-keys.ts';

const WRAP_FORMAT_V1 = 0x01;
export const LOCAL_KEK_ID = 'local';

export type LocalProviderOptions = {
  ring: MasterKeyRing;
  /** Persists a new version (key file); absent for keys from the environment. */
  addVersion?: () => Promise<number>;
  removeVersionsUpTo?: (version: number) => Promise<void>;
};

export function createLocalProvider(opts: LocalProviderOptions): KeyProvider {
  const ring = opts.ring;
  const keyFor = (version: number): Buffer => {
    const k = ring.keys.get(version);
    if (!k) {
      throw kmsRejected(
        `master key version ${version} is not configured (SWITCHYARD_MASTER_KEY or the key file); restore it or re-wrap before retiring it`,
      );
    }
    return k;
  };
  const aad = (ctx: WrapContext, version: number) =>
    encodeParts([
      'switchyard/data-key/v1',
      LOCAL_KEK_ID,
      String(version),
      ctx.tenantId.toLowerCase(),
      ctx.dataKeyId.toLowerCase(),
    ]);
  const wrapWith = (version: number, plaintextKey: Buffer, ctx: WrapContext): WrappedKey => {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', keyFor(version), nonce);
    cipher.setAAD(aad(ctx, version));
    const body = Buffer.concat([cipher.update(plaintextKey), cipher.final()]);
    const head = Buffer.alloc(5);
    head[0] = WRAP_FORMAT_V1;
    head.writeUInt32BE(version, 1);
    return {
      wrapped: Buffer.concat([head, nonce, body, cipher.getAuthTag()]),
      kekId: LOCAL_KEK_ID,
      kekVersion: version,
    };
  };
  const unwrapSync = (key: WrappedKey, ctx: WrapContext): Buffer => {
    const w = key.wrapped;
    if (key.kekId !== LOCAL_KEK_ID) throw kmsRejected(`key ring ${key.kekId} is not local`);
    if (w.length < 5 + 12 + 16 || w[0] !== WRAP_FORMAT_V1) throw decryptFailed('format');
    const version = w.readUInt32BE(1);
    if (version !== key.kekVersion) throw decryptFailed('authentication');
    const kek = keyFor(version);
    try {
      const d = createDecipheriv('aes-256-gcm', kek, w.subarray(5, 17));
      d.setAAD(aad(ctx, version));
      d.setAuthTag(w.subarray(w.length - 16));
      return Buffer.concat([d.update(w.subarray(17, w.length - 16)), d.final()]);
    } catch {
      throw decryptFailed('authentication');
    }
  };
  return {
    kind: 'local',
    kekId: LOCAL_KEK_ID,
    wrap: (plaintextKey, ctx) =>
      Promise.resolve().then(() => wrapWith(ring.latest, plaintextKey, ctx)),
    unwrap: (key, ctx) => Promise.resolve().then(() => unwrapSync(key, ctx)),
    rewrap: (key, ctx) =>
      Promise.resolve().then(() => {
        const plain = unwrapSync(key, ctx);
        try {
          return wrapWith(ring.latest, plain, ctx);
        } finally {
          plain.fill(0);
        }
      }),
    latestVersion: () => Promise.resolve(ring.latest),
    // Keys from the environment cannot be added to from here: the operator adds a version to
    // SWITCHYARD_MASTER_KEY and restarts; rotate() then reports that latest version.
    rotate: () => (opts.addVersion ? opts.addVersion() : Promise.resolve(ring.latest)),
    async retire(version) {
      if (version >= ring.latest)
        throw kmsRejected('the latest master key version cannot be retired');
      await opts.removeVersionsUpTo?.(version);
    },
  };
}
