import path from 'node:path';
import { z } from 'zod';
import { boolFlag, port, positiveInt, postgresUrl } from './env.ts';

export const databaseSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  DATABASE_APP_URL: postgresUrl.optional(),
  DATABASE_SYSTEM_URL: postgresUrl.optional(),
  DATABASE_LISTEN_URL: postgresUrl.optional(),
  DATABASE_APP_ROLE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a lower-case PostgreSQL role name')
    .default('switchyard_app'),
  DATABASE_APP_PASSWORD: z.string().min(12, 'expected at least 12 characters').optional(),
  DATABASE_POOL_MAX: positiveInt(10, 1000),
  DATABASE_PREPARED_STATEMENTS: boolFlag(true),
  DATABASE_CONNECT_TIMEOUT_MS: positiveInt(5_000),
  DATABASE_CONNECT_RETRY_MS: positiveInt(30_000),
  SWITCHYARD_DATA_DIR: z.string().min(1).default('./.switchyard'),
  EMBEDDED_PG_PORT: port(54329),
});

export type DatabaseConfig = {
  /** Owner URL (runs migrations). Absent: embedded PostgreSQL. */
  ownerUrl: string | undefined;
  /** Runtime URL, explicit. Absent: derived from ownerUrl + appRole + appPassword. */
  appUrl: string | undefined;
  /**
   * System-role URL (claims, cron, retention, key rotation: the system scope), explicit.
   * Absent: the runtime URL with `<role>_system` and a password derived from the runtime one.
   */
  systemUrl: string | undefined;
  /**
   * Direct (session) URL of the runtime role for the worker's LISTEN connection, when
   * appUrl goes through a transaction pooler (PgBouncer), which cannot carry LISTEN.
   * Absent: the runtime URL.
   */
  listenUrl: string | undefined;
  appRole: string;
  appPassword: string | undefined;
  poolMax: number;
  /**
   * Named (server-side prepared) statements on the hot path. Off behind a transaction pooler
   * that cannot keep them (PgBouncer before 1.21, or with max_prepared_statements = 0).
   */
  preparedStatements: boolean;
  connectTimeoutMs: number;
  /** How long start-up keeps retrying an unreachable database before giving up. */
  connectRetryMs: number;
  dataDir: string;
  embeddedPort: number;
};

export function toDatabaseConfig(env: z.infer<typeof databaseSchema>): DatabaseConfig {
  return {
    ownerUrl: env.DATABASE_URL,
    appUrl: env.DATABASE_APP_URL,
    systemUrl: env.DATABASE_SYSTEM_URL,
    listenUrl: env.DATABASE_LISTEN_URL,
    appRole: env.DATABASE_APP_ROLE,
    appPassword: env.DATABASE_APP_PASSWORD,
    poolMax: env.DATABASE_POOL_MAX,
    preparedStatements: env.DATABASE_PREPARED_STATEMENTS,
    connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
    connectRetryMs: env.DATABASE_CONNECT_RETRY_MS,
    dataDir: path.resolve(env.SWITCHYARD_DATA_DIR),
    embeddedPort: env.EMBEDDED_PG_PORT,
  };
}
