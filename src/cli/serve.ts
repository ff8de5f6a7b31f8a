/** The HTTP side of a process (`start` and `api`): API, webhooks, health, metrics. */
import { loadWebAssets } from '../api/routes/web-app.ts';
import type { ReadinessCheck } from '../api/routes/health.ts';
import { buildServer } from '../api/server.ts';
import { databaseCheck, migrationsCheck, queueOverloadCheck } from '../api/readiness.ts';
import type { Config } from '../config/index.ts';
import type { OpenDatabase } from '../db/connect.ts';
import { readMigrations } from '../db/migrate.ts';
import { createEngine, type Engine } from '../engine/engine.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { createMetrics, type Metrics } from '../observability/metrics.ts';
import type { SecretBox } from '../security/crypto/secret-box.ts';
import { kmsReadinessCheck, openSecretBox } from '../security/open-secrets.ts';
import { loadTlsServerOptions } from '../security/transport.ts';
import { wireApi } from './api-wiring.ts';
import type { Lifecycle } from './lifecycle.ts';

export type Served = { engine: Engine; secrets: SecretBox; metrics: Metrics; url: string };

export async function serveHttp(
  config: Config,
  db: OpenDatabase,
  logger: Logger,
  lifecycle: Lifecycle,
  /** Checks of the parts this process runs besides HTTP (`start`: the Python sandbox). */
  extraReadinessChecks: ReadinessCheck[] = [],
): Promise<Served> {
  const migrations = await readMigrations();
  // Secrets: the key provider (embedded default: <data dir>/master.key, made on first start).
  const secrets = await openSecretBox(config.security, {
    dataDir: config.database.dataDir,
    embeddedDatabase: db.embedded,
    logger,
    pool: db.pool,
  });
  const tls = config.security.tls ? await loadTlsServerOptions(config.security.tls) : undefined;
  const engine = createEngine({ pool: db.pool, logger, config: config.engine });
  const metrics = createMetrics();
  const api = wireApi(config, { pool: db.pool, logger, engine, secrets, metrics });
  lifecycle.onStop('api buffers', api.stop);
  const webApp = await loadWebAssets(config.server.webAppDir);
  if (!webApp) {
    logger.warn(
      { dir: config.server.webAppDir },
      'the web app is not built: / serves nothing (run npm run build:web)',
    );
  }
  const app = await buildServer({
    pool: db.pool,
    logger,
    readinessChecks: [
      databaseCheck(db.pool),
      migrationsCheck(db.pool, migrations),
      kmsReadinessCheck(secrets),
      queueOverloadCheck(() => engine.backpressure.status()),
      ...extraReadinessChecks,
    ],
    ...(tls ? { tls } : {}),
    trustProxy: config.security.trustProxy,
    graphql: api.graphql,
    hooks: api.hooks,
    oauth: api.oauth,
    metrics,
    webApp,
    transport: {
      requireHttps: config.security.requireHttps,
      hstsMaxAgeS: config.security.hstsMaxAgeS,
    },
  });
  try {
    await app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    await lifecycle.stop();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new SwitchyardError(
        'E_PORT_IN_USE',
        `Cannot listen on ${config.server.host}:${config.server.port}: the port is in use. Set PORT to a free port.`,
      );
    }
    throw err;
  }
  lifecycle.onStop('http', () => app.close());
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  return {
    engine,
    secrets,
    metrics,
    url: `${tls ? 'https' : 'http'}://${host}:${config.server.port}`,
  };
}
