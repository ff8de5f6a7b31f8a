import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawServerDefault,
} from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type pg from 'pg';
import type { Logger } from '../observability/logger.ts';
import { registerHealthRoutes, type ReadinessCheck } from './routes/health.ts';

export type ApiDeps = {
  pool: pg.Pool;
  logger: Logger;
  readinessChecks: ReadinessCheck[];
};

export async function buildServer(deps: ApiDeps): Promise<FastifyInstance> {
  // Explicit generics: Fastify's default logger type, which pino's Logger satisfies.
  const app = Fastify<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger>({
    loggerInstance: deps.logger,
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
  });
  registerHealthRoutes(app, deps.readinessChecks);
  await app.ready();
  return app;
}
