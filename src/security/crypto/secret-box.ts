/**
 * Envelope encryption of single fields: a data key per tenant (made on first use, stored only
 * wrapped by the provider's KEK), AES-256-GCM per field, bound to tenant | table | record |
 * field (aead.ts). Every call runs inside the caller's withTenant() transaction, so RLS also
 * keeps one tenant's data keys out of another tenant's reach.
 */
import { hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import {
  insertActiveDataKey,
  selectActiveDataKeyForShare,
  selectDataKey,
  type DataKeyRow,
} from '../../db/queries/data-keys.ts';
import type { Queryable } from '../../db/pool.ts';
import type { TenantId } from '../../model/ids.ts';
import { recordAudit } from '../../observability/audit.ts';
import type { Logger } from '../../observability/logger.ts';
import type { KeyProvider } from '../kms/provider.ts';
import { installLogScrubbing, secretScrubber, type SecretScrubber } from '../scrub.ts';
import { decryptFailed, openField, readKeyId, sealField, type FieldLocation } from './aead.ts';
import { createKeyCache, type Clock, type KeyCache } from './key-cache.ts';

export type { FieldLocation } from './aead.ts';

export type SecretBox = {
  readonly provider: KeyProvider;
  readonly scrubber: SecretScrubber;
  encryptField(db: Queryable, loc: FieldLocation, plaintext: Buffer | string): Promise<Buffer>;
  /**
   * `key`: the data key read in the same statement as `stored` (joinDataKeyOf), used when it is
   * the one the ciphertext names. Without it the key is looked up in a later statement, by
   * which time a concurrent re-encryption may have destroyed it: a reader that does not lock
   * the ciphertext's row reads both at once.
   */
  decryptField(
    db: Queryable,
    loc: FieldLocation,
    stored: Buffer,
    key?: DataKeyRow,
  ): Promise<Buffer>;
  /** The tenant's active data key (made if missing), locked FOR SHARE in the caller's transaction. */
  activeDataKey(db: Queryable, tenantId: TenantId): Promise<{ id: string; version: number }>;
  /** Drops cached unwrapped keys (after a data key is destroyed). */
  forgetTenant(tenantId: TenantId): void;
  /**
   * A 32-byte key for `purpose` derived (HKDF-SHA256) from the tenant's data key `keyId`, or
   * from its active one when absent; null when that key is gone (destroyed, or another
   * tenant's: RLS). The data key itself never leaves the box (wait tokens, wait-tokens.ts).
   */
  deriveKey(
    db: Queryable,
    tenantId: TenantId,
    purpose: string,
    keyId?: string,
  ): Promise<{ keyId: string; key: Buffer } | null>;
};

export type SecretBoxOptions = {
  provider: KeyProvider;
  logger: Logger;
  scrubber?: SecretScrubber;
  /** How long an unwrapped data key stays in memory (0 disables the cache). */
  keyCacheTtlMs?: number;
  keyCacheMax?: number;
  clock?: Clock;
};

export function createSecretBox(opts: SecretBoxOptions): SecretBox {
  const { provider, logger } = opts;
  const scrubber = opts.scrubber ?? secretScrubber;
  // With the process-wide scrubber, every logger of the process scrubs what this box reveals.
  if (scrubber === secretScrubber) installLogScrubbing();
  const cache: KeyCache = createKeyCache({
    ttlMs: opts.keyCacheTtlMs ?? 300_000,
    maxEntries: opts.keyCacheMax ?? 1_000,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });

  const unwrap = async (row: DataKeyRow): Promise<Buffer> => {
    const cached = cache.get(row.tenantId, row.id);
    if (cached) return cached;
    const key = await provider.unwrap(
      { wrapped: row.wrappedKey, kekId: row.kekId, kekVersion: row.kekVersion },
      { tenantId: row.tenantId, dataKeyId: row.id },
    );
    cache.set(row.tenantId, row.id, key);
    return key;
  };

  const createDataKey = async (db: Queryable, tenantId: TenantId): Promise<void> => {
    const id = randomUUID();
    const plain = randomBytes(32);
    try {
      const wrapped = await provider.wrap(plain, { tenantId, dataKeyId: id });
      const row = await insertActiveDataKey(db, {
        tenantId,
        id,
        wrappedKey: wrapped.wrapped,
        kekId: wrapped.kekId,
        kekVersion: wrapped.kekVersion,
      });
      if (!row) return; // another writer made the active key first
      await recordAudit(db, {
        tenantId,
        actorKind: 'system',
        actorId: 'secret-box',
        action: 'data_key.created',
        targetKind: 'data_key',
        targetId: id,
        metadata: { version: row.version, kekId: row.kekId, kekVersion: row.kekVersion },
      });
      logger.info(
        { tenantId, dataKeyVersion: row.version, kekId: row.kekId, kekVersion: row.kekVersion },
        'tenant data key created',
      );
    } finally {
      plain.fill(0);
    }
  };

  const activeRow = async (db: Queryable, tenantId: TenantId): Promise<DataKeyRow> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = await selectActiveDataKeyForShare(db, { tenantId });
      if (row) return row;
      await createDataKey(db, tenantId);
    }
    throw new Error(`no active data key for tenant ${tenantId} after 3 attempts`);
  };

  return {
    provider,
    scrubber,
    async encryptField(db, loc, plaintext) {
      const row = await activeRow(db, loc.tenantId as TenantId);
      const key = await unwrap(row);
      const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
      return sealField(key, row.id, loc, bytes);
    },
    async decryptField(db, loc, stored, readWith) {
      const keyId = readKeyId(stored);
      const tenantId = loc.tenantId as TenantId;
      let key = cache.get(tenantId, keyId);
      if (!key) {
        const row =
          readWith && readWith.id === keyId && readWith.tenantId === tenantId
            ? readWith
            : await selectDataKey(db, { tenantId, id: keyId });
        // Another tenant's key is invisible here (RLS): a moved ciphertext fails closed.
        if (!row) throw decryptFailed('authentication', loc);
        key = await unwrap(row);
      }
      return openField(key, loc, stored);
    },
    async activeDataKey(db, tenantId) {
      const row = await activeRow(db, tenantId);
      return { id: row.id, version: row.version };
    },
    forgetTenant: (tenantId) => cache.forgetTenant(tenantId),
    async deriveKey(db, tenantId, purpose, keyId) {
      let id = keyId;
      let key = id === undefined ? undefined : cache.get(tenantId, id);
      if (!key) {
        const row =
          id === undefined
            ? await activeRow(db, tenantId)
            : await selectDataKey(db, { tenantId, id });
        if (!row) return null;
        id = row.id;
        key = await unwrap(row);
      }
      const derived = hkdfSync('sha256', key, Buffer.alloc(0), `switchyard:${purpose}`, 32);
      return { keyId: id!, key: Buffer.from(derived) };
    },
  };
}
