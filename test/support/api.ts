import type { FastifyInstance } from 'fastify';
import { loadWebAssets } from '../../src/api/routes/web-app.ts';
import type { RunChangeHub } from '../../src/api/run-changes.ts';
import { buildServer } from '../../src/api/server.ts';
import { wireApi } from '../../src/cli/api-wiring.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';
import type { SecretBox } from '../../src/security/crypto/secret-box.ts';
import { openSecretBox } from '../../src/security/open-secrets.ts';
import type { TestDatabase } from './db.ts';
import { testLogger } from './db.ts';
import type { Logger } from '../../src/observability/logger.ts';

export type GqlResult<T = Record<string, unknown>> = {
  status: number;
  headers: Headers;
  data: T | null;
  errors:
    Array<{ message: string; extensions?: { code?: string; [k: string]: unknown } }> | undefined;
  setCookie: string | null;
};

export type TestApi = {
  url: string;
  app: FastifyInstance;
  engine: Engine;
  secrets: SecretBox;
  metrics: Metrics;
  /** The process's live run changes (GraphQL subscriptions). */
  runChanges: RunChangeHub;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    auth?: Auth,
  ): Promise<GqlResult<T>>;
  flush(): Promise<void>;
  close(): Promise<void>;
};

/** The built web app; a test of it fails with the fix when it was not built. */
async function requireWebAssets(dir: string) {
  const assets = await loadWebAssets(dir);
  if (!assets) throw new Error(`The web app is not built in ${dir}: run npm run build:web`);
  return assets;
}

export type Auth = { token?: string; cookie?: string; headers?: Record<string, string> };

/** A real Switchyard API (GraphQL + webhook ingress) on 127.0.0.1 over this test file's database. */
export async function startTestApi(
  db: TestDatabase,
  env: Record<string, string> = {},
  logger: Logger = testLogger,
  opts: { webApp?: boolean; port?: number } = {},
): Promise<TestApi> {
  const config = loadConfig({
    SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'),
    ...env,
  });
  const engine = createEngine({ pool: db.pool, logger, config: config.engine });
  const secrets = await openSecretBox(config.security, {
    dataDir: '/nonexistent',
    embeddedDatabase: false,
    logger,
    pool: db.pool,
  });
  const metrics = createMetrics();
  const api = wireApi(config, { pool: db.pool, logger, engine, secrets, metrics });
  const app = await buildServer({
    pool: db.pool,
    logger,
    readinessChecks: [],
    graphql: api.graphql,
    hooks: api.hooks,
    oauth: api.oauth,
    metrics,
    webApp: opts.webApp ? await requireWebAssets(config.server.webAppDir) : null,
  });
  await app.listen({ host: '127.0.0.1', port: opts.port ?? 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    app,
    engine,
    secrets,
    metrics,
    runChanges: api.graphql.services.runChanges,
    async gql<T>(
      query: string,
      variables: Record<string, unknown> = {},
      auth: Auth = {},
    ): Promise<GqlResult<T>> {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(auth.token ? { authorization: `Bearer ${auth.token}` } : {}),
          ...(auth.cookie ? { cookie: auth.cookie } : {}),
          ...auth.headers,
        },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: T | null; errors?: GqlResult['errors'] };
      return {
        status: res.status,
        headers: res.headers,
        data: body.data ?? null,
        errors: body.errors,
        setCookie: res.headers.get('set-cookie'),
      };
    },
    async flush() {
      await api.graphql.accessLog.flush();
      await api.graphql.services.lastUsed.flush();
    },
    async close() {
      await app.close();
      await api.stop();
    },
  };
}

/** `name=value` of a Set-Cookie header, for sending it back. */
export function cookieOf(setCookie: string | null): string {
  if (!setCookie) throw new Error('no Set-Cookie header');
  return setCookie.split(';')[0]!;
}

/** A port free on 127.0.0.1 now (for an API that must know its own URL, e.g. PUBLIC_URL). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
