/**
 * KEK rotation: a new KEK version, then every tenant's data keys re-wrapped under it in small
 * per-tenant transactions, so the server keeps serving throughout (a data key's plaintext does
 * not change, so no stored secret changes and nothing cached goes stale). Re-runnable: it
 * re-wraps whatever is still under an older version. Finding the tenants is the only step
 * that spans tenants (withSystem(), which may read wrapped keys only); each tenant's
 * re-wrap and its audit event commit together in withTenant().
 */
import type pg from 'pg';
import {
  countDataKeysByKekVersion,
  selectDataKeysToRewrap,
  selectTenantsWithStaleDataKeys,
  updateDataKeyWrap,
  type KekUsage,
} from '../../db/queries/data-keys.ts';
import {
  insertKekVersion,
  markKekVersionsRetired,
  selectKekVersions,
  type KekVersionRow,
} from '../../db/queries/key-ring.ts';
import { withSystem, withTenant } from '../../db/tenant.ts';
import { SwitchyardError } from '../../model/errors.ts';
import type { TenantId } from '../../model/ids.ts';
import { recordAudit } from '../../observability/audit.ts';
import type { Logger } from '../../observability/logger.ts';
import type { KeyProvider } from '../kms/provider.ts';

export type RotationDeps = { pool: pg.Pool; provider: KeyProvider; logger: Logger };

export type RotationResult = {
  kekId: string;
  previousVersion: number;
  version: number;
  tenants: number;
  dataKeys: number;
};

/** Tenants re-wrapped per system query; each tenant is its own short transaction. */
const TENANT_BATCH = 100;
/** Data keys re-wrapped per tenant transaction. */
const KEY_BATCH = 50;

export async function rotateKek(
  deps: RotationDeps,
  opts: { newVersion: boolean; actorId?: string },
): Promise<RotationResult> {
  const { pool, provider, logger } = deps;
  const previousVersion = await provider.latestVersion();
  const version = opts.newVersion ? await provider.rotate() : previousVersion;
  await insertKekVersion(pool, {
    kekId: provider.kekId,
    version: previousVersion,
    provider: provider.kind,
  });
  await insertKekVersion(pool, { kekId: provider.kekId, version, provider: provider.kind });
  logger.info(
    { kekId: provider.kekId, previousVersion, version },
    'KEK version in use; re-wrapping data keys',
  );
  const rewrapped = await rewrapDataKeys(deps, { version, actorId: opts.actorId ?? 'keys-rotate' });
  logger.info({ kekId: provider.kekId, version, ...rewrapped }, 'data keys re-wrapped');
  return { kekId: provider.kekId, previousVersion, version, ...rewrapped };
}

export async function rewrapDataKeys(
  deps: RotationDeps,
  opts: { version: number; actorId: string },
): Promise<{ tenants: number; dataKeys: number }> {
  const { pool, provider } = deps;
  let tenants = 0;
  let dataKeys = 0;
  for (;;) {
    const batch = await withSystem(pool, (c) =>
      selectTenantsWithStaleDataKeys(c, {
        kekId: provider.kekId,
        kekVersion: opts.version,
        limit: TENANT_BATCH,
      }),
    );
    if (batch.length === 0) return { tenants, dataKeys };
    for (const tenantId of batch) {
      dataKeys += await rewrapTenant(deps, tenantId, opts);
      tenants++;
    }
  }
}

async function rewrapTenant(
  deps: RotationDeps,
  tenantId: TenantId,
  opts: { version: number; actorId: string },
): Promise<number> {
  const { pool, provider } = deps;
  let total = 0;
  for (;;) {
    const n = await withTenant(pool, tenantId, async (c) => {
      const rows = await selectDataKeysToRewrap(c, {
        tenantId,
        kekId: provider.kekId,
        kekVersion: opts.version,
        limit: KEY_BATCH,
      });
      const from = new Set<number>();
      for (const row of rows) {
        const w = await provider.rewrap(
          { wrapped: row.wrappedKey, kekId: row.kekId, kekVersion: row.kekVersion },
          { tenantId, dataKeyId: row.id },
        );
        if (w.kekVersion < opts.version) {
          throw new SwitchyardError(
            'E_KMS_REJECTED',
            `The key provider re-wrapped under KEK version ${w.kekVersion}, older than ${opts.version}.`,
          );
        }
        await updateDataKeyWrap(c, {
          tenantId,
          id: row.id,
          wrappedKey: w.wrapped,
          kekId: w.kekId,
          kekVersion: w.kekVersion,
        });
        from.add(row.kekVersion);
      }
      if (rows.length > 0) {
        await recordAudit(c, {
          tenantId,
          actorKind: 'system',
          actorId: opts.actorId,
          action: 'data_key.rewrapped',
          targetKind: 'kek',
          targetId: provider.kekId,
          metadata: {
            dataKeys: rows.length,
            fromKekVersions: [...from].sort(),
            toKekVersion: opts.version,
          },
        });
      }
      return rows.length;
    });
    total += n;
    if (n < KEY_BATCH) return total;
  }
}

export type KeyStatus = {
  provider: 'local' | 'vault';
  kekId: string;
  latestVersion: number;
  versions: KekVersionRow[];
  usage: KekUsage[];
};

export async function keyStatus(deps: Omit<RotationDeps, 'logger'>): Promise<KeyStatus> {
  const { pool, provider } = deps;
  return {
    provider: provider.kind,
    kekId: provider.kekId,
    latestVersion: await provider.latestVersion(),
    versions: await selectKekVersions(pool, { kekId: provider.kekId }),
    usage: await withSystem(pool, (c) => countDataKeysByKekVersion(c)),
  };
}

/**
 * Retires KEK versions up to `version`: refused while any data key is still wrapped under
 * one of them (run `keys rotate` first); then the provider makes them unusable (local: the
 * key file drops them; Vault: min_decryption_version) and kek_versions records it.
 */
export async function retireKekVersions(
  deps: RotationDeps,
  opts: { upToVersion: number },
): Promise<{ retired: number[] }> {
  const { pool, provider, logger } = deps;
  const usage = await withSystem(pool, (c) => countDataKeysByKekVersion(c));
  const inUse = usage
    .filter((u) => u.kekId === provider.kekId && u.kekVersion <= opts.upToVersion)
    .reduce((n, u) => n + u.keys, 0);
  if (inUse > 0) {
    throw new SwitchyardError(
      'E_CONFLICT',
      `${inUse} data keys are still wrapped under KEK version ${opts.upToVersion} or older; run \`switchyard keys rotate\` first.`,
      { inUse },
    );
  }
  await provider.retire(opts.upToVersion);
  const retired = await markKekVersionsRetired(pool, {
    kekId: provider.kekId,
    upToVersion: opts.upToVersion,
  });
  logger.info(
    { kekId: provider.kekId, upToVersion: opts.upToVersion, retired },
    'KEK versions retired',
  );
  return { retired };
}
