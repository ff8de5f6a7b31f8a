/**
 * Opens Switchyard's database: the embedded server when no URL is configured, migrations
 * (as the owner), the runtime and system roles, and the two pools the server uses: the runtime
 * pool (every tenant request) and, bound to it, the system pool (withSystem(): claims, cron,
 * retention, key rotation, webhook routing; docs/adr/0008-system-scope.md).
 */
import type pg from 'pg';
import type { DatabaseConfig } from '../config/database.ts';
import type { Logger } from '../observability/logger.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';
import { migrate } from './migrate.ts';
import { SwitchyardError } from '../model/errors.ts';
import {
  createPool,
  describePgError,
  describeTarget,
  retryWhileUnreachable,
  waitForDatabase,
} from './pool.ts';
import {
  assertRuntimeRoleIsSafe,
  deriveAppUrl,
  deriveSystemPassword,
  deriveSystemUrl,
  ensureAppRole,
  systemRoleFor,
} from './roles.ts';
import { bindSystemPool } from './system-pool.ts';

export type OpenDatabase = {
  /** The runtime pool: the app role, subject to RLS. */
  pool: pg.Pool;
  /** The system pool (bound to `pool`: withSystem(pool) uses it). */
  systemPool: pg.Pool;
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
        const owner = ownerUrl;
        const password = appPassword;
        // Like the role checks below: a restart between the wait and these is waited out
        // (migrations are transactional and applied once, so a retry is safe).
        const retry = { retryForMs: cfg.connectRetryMs, logger };
        const { applied } = await retryWhileUnreachable(() => migrate(owner, { logger }), {
          ...retry,
          what: 'migrations',
        });
        if (applied.length > 0) logger.info({ applied }, 'database migrated');
        if (password) {
          // With an explicit DATABASE_SYSTEM_URL the operator manages the system role.
          await retryWhileUnreachable(
            () =>
              ensureAppRole(owner, {
                role: cfg.appRole,
                password,
                logger,
                system: cfg.systemUrl
                  ? false
                  : { role: systemRoleFor(cfg.appRole), password: deriveSystemPassword(password) },
              }),
            { ...retry, what: 'runtime role set-up' },
          );
        }
      }
    }
    const appUrl =
      cfg.appUrl ?? deriveAppUrl(requireValue(ownerUrl), cfg.appRole, requireValue(appPassword));
    await waitForDatabase(appUrl, {
      retryForMs: cfg.connectRetryMs,
      connectTimeoutMs: cfg.connectTimeoutMs,
      logger,
    });
    const systemUrl = cfg.systemUrl ?? deriveSystemUrl(appUrl);
    const pool = createPool({
      url: appUrl,
      max: cfg.poolMax,
      connectTimeoutMs: cfg.connectTimeoutMs,
      applicationName: opts.applicationName,
      logger,
      preparedStatements: cfg.preparedStatements,
    });
    // System work is a few statements at a time (one claim loop, a cron tick, cached reads).
    const systemPool = createPool({
      url: systemUrl,
      max: Math.max(2, Math.ceil(cfg.poolMax / 2)),
      connectTimeoutMs: cfg.connectTimeoutMs,
      applicationName: `${opts.applicationName}-system`,
      logger,
      // Behind the same pooler as the runtime role: the same rule for named statements.
      preparedStatements: cfg.preparedStatements,
    });
    bindSystemPool(pool, systemPool);
    const retry = { retryForMs: cfg.connectRetryMs, logger };
    try {
      await retryWhileUnreachable(() => assertRuntimeRoleIsSafe(pool), {
        ...retry,
        what: 'runtime role check',
      });
      await retryWhileUnreachable(() => assertRuntimeRoleIsSafe(systemPool, { system: true }), {
        ...retry,
        what: 'system role check',
      }).catch((err: unknown) => {
        throw cannotLogIn(err) ? systemLoginError(systemUrl, err) : err;
      });
    } catch (err) {
      await pool.end();
      await systemPool.end();
      throw err;
    }
    return {
      pool,
      systemPool,
      ownerUrl,
      embedded: embedded !== undefined,
      async close() {
        await pool.end();
        await systemPool.end();
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

/** 28P01 invalid_password, 28000 invalid_authorization_specification (no such role, hba). */
function cannotLogIn(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === '28P01' || code === '28000';
}

function systemLoginError(systemUrl: string, cause: unknown): SwitchyardError {
  const role = decodeURIComponent(new URL(systemUrl).username);
  return new SwitchyardError(
    'E_DB_ROLE_MISCONFIGURED',
    `Cannot log in as the system database role "${role}" at ${describeTarget(systemUrl)}: ${describePgError(cause).message}. Set DATABASE_SYSTEM_URL, or let Switchyard create the role (DATABASE_URL with CREATEROLE); see docs/operations.md.`,
    { role },
    cause,
  );
}
