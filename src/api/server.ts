import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawServerDefault,
} from 'fastify';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type pg from 'pg';
import type { Logger } from '../observability/logger.ts';
import {
  registerTransportSecurity,
  type TlsServerOptions,
  type TransportPolicy,
} from '../security/transport.ts';
import { registerGraphql, type GraphqlOptions } from './graphql/plugin.ts';
import { registerHealthRoutes, type ReadinessCheck } from './routes/health.ts';
import { registerHooks, type HooksOptions } from './routes/hooks.ts';
import { registerMetrics } from './routes/metrics.ts';
import { registerOAuthCallback, type OAuthRouteOptions } from './routes/oauth.ts';
import { registerRequestSpans } from './routes/tracing.ts';
import { registerWebApp, type WebAssets } from './routes/web-app.ts';
import type { Metrics } from '../observability/metrics.ts';

export type ApiDeps = {
  pool: pg.Pool;
  logger: Logger;
  readinessChecks: ReadinessCheck[];
  /** HTTPS with these options (security/transport.ts); absent: plain HTTP. */
  tls?: TlsServerOptions;
  /** Fastify trustProxy: believe X-Forwarded-* from these proxies. */
  trustProxy?: boolean | string[];
  /** HSTS and REQUIRE_HTTPS (security/transport.ts). */
  transport?: TransportPolicy;
  /** The product API at /graphql. */
  graphql?: GraphqlOptions;
  /** Webhook ingress at /hooks/:triggerId. */
  hooks?: HooksOptions;
  /** The OAuth authorization code callback at /oauth/callback. */
  oauth?: OAuthRouteOptions;
  /** Prometheus metrics at /metrics. */
  metrics?: Metrics;
  /** The built web app at `/` (routes/web-app.ts); absent: no UI is served. */
  webApp?: WebAssets | null;
};

export async function buildServer(deps: ApiDeps): Promise<FastifyInstance> {
  // Explicit generics: Fastify's default logger type, which pino's Logger satisfies.
  const app = Fastify<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger>({
    loggerInstance: deps.logger,
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
    trustProxy: deps.trustProxy ?? false,
    // HTTPS when configured (TLS 1.2 minimum); an https.Server serves requests as http does.
    serverFactory: (handler) =>
      deps.tls ? https.createServer(deps.tls, handler) : http.createServer(handler),
  });
  registerTransportSecurity(
    app,
    deps.transport ?? { requireHttps: false, hstsMaxAgeS: 31_536_000 },
  );
  registerRequestSpans(app);
  registerHealthRoutes(app, deps.readinessChecks);
  if (deps.metrics) registerMetrics(app, deps.metrics);
  if (deps.graphql) registerGraphql(app, deps.graphql);
  if (deps.hooks) registerHooks(app, deps.hooks);
  if (deps.oauth) registerOAuthCallback(app, deps.oauth);
  if (deps.webApp) registerWebApp(app, deps.webApp);
  await app.ready();
  return app;
}
