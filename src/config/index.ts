import type { z } from 'zod';
import { SwitchyardError } from '../model/errors.ts';
import { apiSchema, toApiConfig, type ApiConfig } from './api.ts';
import { databaseSchema, toDatabaseConfig, type DatabaseConfig } from './database.ts';
import { engineSchema, toEngineConfig, type EngineConfig } from './engine.ts';
import { withoutEmpty } from './env.ts';
import { logSchema, toLogConfig, type LogConfig } from './log.ts';
import { retentionSchema, toRetentionConfig, type RetentionConfig } from './retention.ts';
import { runnerSchema, toRunnerConfig, type RunnerConfig } from './runner.ts';
import { securitySchema, toSecurityConfig, type SecurityConfig } from './security.ts';
import { serverSchema, toServerConfig, type ServerConfig } from './server.ts';

export type Config = {
  server: ServerConfig;
  database: DatabaseConfig;
  log: LogConfig;
  engine: EngineConfig;
  runner: RunnerConfig;
  security: SecurityConfig;
  api: ApiConfig;
  retention: RetentionConfig;
};

/**
 * Parses the environment once, at start. Every bad value is reported on its own line:
 * `PORT=abc: expected a whole number from 1 to 65535`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const source = withoutEmpty(env);
  const problems: string[] = [];
  const parse = <S extends z.ZodType>(schema: S): z.infer<S> | undefined => {
    const result = schema.safeParse(source);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? '?');
      const value = source[name];
      const shown = value === undefined ? '(unset)' : JSON.stringify(redactValue(name, value));
      problems.push(`${name}=${shown}: ${issue.message}`);
    }
    return undefined;
  };
  const server = parse(serverSchema);
  const database = parse(databaseSchema);
  const log = parse(logSchema);
  const engine = parse(engineSchema);
  const runner = parse(runnerSchema);
  const security = parse(securitySchema);
  const api = parse(apiSchema);
  const retention = parse(retentionSchema);
  if (database?.DATABASE_URL && !database.DATABASE_APP_URL && !database.DATABASE_APP_PASSWORD) {
    problems.push(
      'DATABASE_APP_PASSWORD=(unset): expected the runtime role password (or DATABASE_APP_URL) when DATABASE_URL is set',
    );
  }
  if (
    problems.length > 0 ||
    !server ||
    !database ||
    !log ||
    !engine ||
    !runner ||
    !security ||
    !api ||
    !retention
  ) {
    throw new SwitchyardError(
      'E_CONFIG_INVALID',
      `Invalid configuration:\n${problems.join('\n')}`,
      {
        problems,
      },
    );
  }
  return {
    server: toServerConfig(server),
    database: toDatabaseConfig(database),
    log: toLogConfig(log),
    engine: toEngineConfig(engine),
    runner: toRunnerConfig(runner),
    security: toSecurityConfig(security),
    api: toApiConfig(api),
    retention: toRetentionConfig(retention),
  };
}

/** Values of secret-looking variables are never echoed back, even when invalid. */
function redactValue(name: string, value: string): string {
  if (/PASSWORD|SECRET|KEY|TOKEN/.test(name)) return '***';
  if (/_URL$/.test(name)) {
    try {
      const u = new URL(value);
      if (u.password) u.password = '***';
      return u.toString();
    } catch {
      return value;
    }
  }
  return value;
}
