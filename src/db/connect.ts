/**
 * Opens Switchyard's database: the embedded server when no URL is configured, migrations
 * (as the owner), the runtime role, and the runtime pool the server uses.
 */
import type pg from 'pg';
import type { DatabaseConfig } from '../config/database.ts';
import type { Logger } from '../observability/logger.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';
import { migrate } from './migrate.ts';
import { createPool, waitForDatabase } from './pool.ts';
import { assertRuntimeRoleIsSafe, deriveAppUrl, ensureAppRole } from './roles.ts';

export type OpenDatabase = {
  /** The runtime pool: the app role, subject to RLS. */
  pool: pg.Pool;
  /** Owner URL, when this process has one (embedded, or DATABASE_URL). */
  ownerUrl: string | undefined;
  embedded: boolean;
  close(): Promise<void>;
};

export async function openDatabase(
  cfg: DatabaseConfig,
  opts: {
    logger: Logger;
    migrate: boolean;
    applicationName: string;
    embeddedSettings?: Record<string, string>;
  },
): Promise<OpenDatabase> {
  const { logger } = opts;
  let embedded: EmbeddedPostgres | undefined;
  let ownerUrl = cfg.ownerUrl;
  let appPassword = cfg.appPassword;
  if (!ownerUrl && !cfg.appUrl) {
    embedded = await startEmbeddedPostgres({
      dataDir: cfg.dataDir,
      port: cfg.embeddedPort,
      logger,
      ...(opts.embeddedSettings ? { settings: opts.embeddedSettings } : {}),
    });
    ownerUrl = embedded.ownerUrl;
    appPassword = embedded.appPassword;
  }
  try {
    if (ownerUrl) {
      await waitForDatabase(ownerUrl, {
        retryForMs: cfg.connectRetryMs,
        connectTimeoutMs: cfg.connectTimeoutMs,
        logger,
      });
      if (opts.migrate) {
        const { applied } = await migrate(ownerUrl, { logger });
        if (applied.length > 0) logger.info({ applied }, 'database migrated');
        if (appPassword)
          await ensureAppRole(ownerUrl, { role: cfg.appRole, password: appPassword, logger });
      }
    }
    const appUrl =
      cfg.appUrl ?? deriveAppUrl(requireValue(ownerUrl), cfg.appRole, requireValue(appPassword));
    await waitForDatabase(appUrl, {
      retryForMs: cfg.connectRetryMs,
      connectTimeoutMs: cfg.connectTimeoutMs,
      logger,
    });
    const pool = createPool({
      url: appUrl,
      max: cfg.poolMax,
      connectTimeoutMs: cfg.connectTimeoutMs,
      applicationName: opts.applicationName,
      logger,
      preparedStatements: cfg.preparedStatements,
    });
    try {
      await assertRuntimeRoleIsSafe(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return {
      pool,
      ownerUrl,
      embedded: embedded !== undefined,
      async close() {
        await pool.end();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}

function requireValue(v: string | undefined): string {
  // Config validation guarantees an owner URL + password or an explicit app URL.
  if (v === undefined) throw new Error('database configuration incomplete');
  return v;
}
