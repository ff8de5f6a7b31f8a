/** Start-up wiring of the secret layer from configuration (used by the CLI commands). */
import type pg from 'pg';
import type { SecurityConfig } from '../config/security.ts';
import { countDataKeysByKekVersion } from '../db/queries/data-keys.ts';
import { withSystem } from '../db/tenant.ts';
import type { Logger } from '../observability/logger.ts';
import { createSecretBox, type SecretBox } from './crypto/secret-box.ts';
import { createKeyProvider } from './kms/create-provider.ts';
import { LOCAL_KEK_ID } from './kms/local.ts';

export async function openSecretBox(
  cfg: SecurityConfig,
  opts: { dataDir: string; embeddedDatabase: boolean; logger: Logger; pool?: pg.Pool },
): Promise<SecretBox> {
  const pool = opts.pool;
  const provider = await createKeyProvider(cfg.kms, {
    dataDir: opts.dataDir,
    embeddedDatabase: opts.embeddedDatabase,
    logger: opts.logger,
    ...(pool
      ? {
          databaseHasLocalKeys: async () =>
            (await withSystem(pool, (c) => countDataKeysByKekVersion(c))).some(
              (u) => u.kekId === LOCAL_KEK_ID,
            ),
        }
      : {}),
  });
  return createSecretBox({
    provider,
    logger: opts.logger,
    keyCacheTtlMs: cfg.keyCacheTtlMs,
    keyCacheMax: cfg.keyCacheMax,
  });
}

/** Readiness: the key provider answers (without it no secret can be read or written). */
export function kmsReadinessCheck(box: SecretBox): {
  name: string;
  check: () => Promise<{ ok: boolean; detail?: string }>;
} {
  return {
    name: 'kms',
    check: async () => {
      try {
        const v = await box.provider.latestVersion();
        return { ok: true, detail: `${box.provider.kekId} v${v}` };
      } catch (err) {
        return { ok: false, detail: box.scrubber.scrub((err as Error).message) };
      }
    },
  };
}
