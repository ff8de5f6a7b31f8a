/**
 * Data key rotation: each tenant gets a new data key, every stored secret is re-encrypted
 * under it in small batches, and the old data keys are destroyed once no ciphertext names
 * them. Retiring the old key waits for in-flight writers that still hold it (FOR SHARE, see
 * db/queries/data-keys.ts), so no new ciphertext under it can appear after the pass starts.
 * Rows locked by other work are skipped and their key is kept: a re-run finishes the job.
 * Readers that do not lock the row read a ciphertext and the data key it names in one
 * statement (joinDataKeyOf in data-keys.ts), so destroying a key never strands a reader that
 * read the ciphertext just before its re-encryption committed.
 */
import type pg from 'pg';
import {
  cipherColumns,
  deleteUnreferencedRetiredDataKeys,
  retireActiveDataKey,
  selectCiphersNotUnderKey,
  selectTenantsWithDataKeys,
  updateCipherIfUnchanged,
} from '../../db/queries/data-keys.ts';
import { withSystem, withTenant } from '../../db/tenant.ts';
import { isSwitchyardError } from '../../model/errors.ts';
import type { TenantId } from '../../model/ids.ts';
import { recordAudit } from '../../observability/audit.ts';
import type { Logger } from '../../observability/logger.ts';
import type { SecretBox } from '../crypto/secret-box.ts';

export type ReencryptDeps = { pool: pg.Pool; box: SecretBox; logger: Logger };

export type TenantReencryption = {
  tenantId: TenantId;
  newDataKeyVersion: number;
  reencrypted: number;
  /** Ciphertexts that failed authentication (altered): left under their old data key. */
  unreadable: { table: string; column: string; id: string }[];
  destroyedDataKeyVersions: number[];
};

const ROW_BATCH = 100;
const FIRST_UUID = '00000000-0000-0000-0000-000000000000';
const TENANT_PAGE = 100;

/** All tenants that hold data keys (or only `tenantIds`). */
export async function reencryptSecrets(
  deps: ReencryptDeps,
  opts: { tenantIds?: TenantId[]; actorId?: string } = {},
): Promise<TenantReencryption[]> {
  const results: TenantReencryption[] = [];
  const actorId = opts.actorId ?? 'keys-reencrypt';
  if (opts.tenantIds) {
    for (const t of opts.tenantIds) results.push(await reencryptTenant(deps, t, actorId));
    return results;
  }
  let after = FIRST_UUID;
  for (;;) {
    const page = await withSystem(deps.pool, (c) =>
      selectTenantsWithDataKeys(c, { afterTenantId: after, limit: TENANT_PAGE }),
    );
    for (const t of page) results.push(await reencryptTenant(deps, t, actorId));
    if (page.length < TENANT_PAGE) return results;
    after = page[page.length - 1]!;
  }
}

export async function reencryptTenant(
  deps: ReencryptDeps,
  tenantId: TenantId,
  actorId: string,
): Promise<TenantReencryption> {
  const { pool, box, logger } = deps;
  const { retired, active } = await withTenant(pool, tenantId, async (c) => {
    const old = await retireActiveDataKey(c, { tenantId });
    const fresh = await box.activeDataKey(c, tenantId);
    await recordAudit(c, {
      tenantId,
      actorKind: 'system',
      actorId,
      action: 'data_key.rotated',
      targetKind: 'data_key',
      targetId: fresh.id,
      metadata: { retiredVersion: old?.version ?? null, newVersion: fresh.version },
    });
    return { retired: old, active: fresh };
  });
  let reencrypted = 0;
  const unreadable: { table: string; column: string; id: string }[] = [];
  for (const column of cipherColumns) {
    let afterId = FIRST_UUID;
    for (;;) {
      const page = await withTenant(pool, tenantId, async (c) => {
        const key = await box.activeDataKey(c, tenantId);
        const rows = await selectCiphersNotUnderKey(c, {
          column,
          tenantId,
          dataKeyId: key.id,
          afterId,
          limit: ROW_BATCH,
        });
        let done = 0;
        for (const row of rows) {
          const loc = { tenantId, table: column.table, recordId: row.id, field: column.column };
          let plain: Buffer;
          try {
            plain = await box.decryptField(c, loc, row.cipher);
          } catch (err) {
            // One altered secret must not block the rest: it keeps its (old) data key, which
            // therefore is not destroyed, and is reported for the operator to set again.
            if (!isSwitchyardError(err, 'E_SECRET_DECRYPT_FAILED')) throw err;
            unreadable.push({ table: column.table, column: column.column, id: row.id });
            continue;
          }
          try {
            const next = await box.encryptField(c, loc, plain);
            if (
              await updateCipherIfUnchanged(c, {
                column,
                tenantId,
                id: row.id,
                from: row.cipher,
                to: next,
              })
            )
              done++;
          } finally {
            plain.fill(0);
          }
        }
        return { done, count: rows.length, lastId: rows.at(-1)?.id };
      });
      reencrypted += page.done;
      if (page.count < ROW_BATCH || !page.lastId) break;
      afterId = page.lastId;
    }
  }
  if (unreadable.length > 0) {
    logger.warn(
      { tenantId, unreadable },
      'some stored secrets failed authentication and were left as they are; set them again',
    );
  }
  const destroyed = await withTenant(pool, tenantId, async (c) => {
    const gone = await deleteUnreferencedRetiredDataKeys(c, { tenantId });
    await recordAudit(c, {
      tenantId,
      actorKind: 'system',
      actorId,
      action: 'secrets.reencrypted',
      targetKind: 'data_key',
      targetId: active.id,
      metadata: {
        reencrypted,
        unreadable: unreadable.length,
        dataKeyVersion: active.version,
        destroyedVersions: gone.map((g) => g.version).sort((a, b) => a - b),
      },
    });
    return gone;
  });
  box.forgetTenant(tenantId);
  logger.info(
    {
      tenantId,
      retiredVersion: retired?.version,
      newVersion: active.version,
      reencrypted,
      destroyed: destroyed.length,
    },
    'tenant secrets re-encrypted',
  );
  return {
    tenantId,
    newDataKeyVersion: active.version,
    reencrypted,
    unreadable,
    destroyedDataKeyVersions: destroyed.map((d) => d.version).sort((a, b) => a - b),
  };
}
