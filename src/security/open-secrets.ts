/** Start-up wiring of the secret layer from configuration (used by the CLI commands). */
import type pg from 'pg';
import type { SecurityConfig } from '../config/security.ts';
import { countDataKeysByKekVersion } from '../db/queries/data-keys.ts';
import { retryWhileUnreachable } from '../db/pool.ts';
import { withSystem } from '../db/tenant.ts';
import type { Logger } from '../observability/logger.ts';
import { createSecretBox, type SecretBox } from './crypto/secret-box.ts';
import { createKeyProvider } from './kms/create-provider.ts';
import { LOCAL_KEK_ID } from './kms/local.ts';

export async function openSecretBox(
  cfg: SecurityConfig,
  opts: {
    dataDir: string;
    embeddedDatabase: boolean;
    logger: Logger;
    pool?: pg.Pool;
    /** How long a start-up waits out an unreachable database (a restart) for its one read. */
    retryForMs?: number;
  },
): Promise<SecretBox> {
  const pool = opts.pool;
  const provider = await createKeyProvider(cfg.kms, {
    dataDir: opts.dataDir,
    embeddedDatabase: opts.embeddedDatabase,
    logger: opts.logger,
    ...(pool
      ? {
          // At start-up, like the migrations (db/connect.ts): a PostgreSQL restart meanwhile
          // is waited out rather than ending the process.
          databaseHasLocalKeys: async () =>
            (
              await retryWhileUnreachable(
                () => withSystem(pool, (c) => countDataKeysByKekVersion(c)),
                {
                  retryForMs: opts.retryForMs ?? 30_000,
                  logger: opts.logger,
                  what: 'key provider check',
                },
              )
            ).some((u) => u.kekId === LOCAL_KEK_ID),
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
