import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { getOperationAST, NoSchemaIntrospectionCustomRule, type DocumentNode } from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import type { Actor } from '../../model/actor.ts';
import { errorCodes, isSwitchyardError } from '../../model/errors.ts';
import type { AccessLog } from '../../observability/access-log.ts';
import type { Logger } from '../../observability/logger.ts';
import { resolveActor } from '../auth.ts';
import type { RateLimiter } from '../rate-limit.ts';
import type { ApiServices, GraphQLContext } from './context.ts';
import { createErrorMasker, errorCodeOf, registryCodesPlugin } from './errors.ts';
import { queryLimitsRule, type QueryLimits } from './limits.ts';
import { getSchema } from './schema.ts';

export type GraphqlOptions = {
  services: ApiServices;
  logger: Logger;
  accessLog: AccessLog;
  rateLimiter: RateLimiter;
  limits: QueryLimits & { introspection: boolean };
  rateLimits: { tenantPerMinute: number; principalPerMinute: number; ipPerMinute: number };
};

type ServerContext = { req: FastifyRequest; reply: FastifyReply; actor: Actor };

export function registerGraphql(app: FastifyInstance, opts: GraphqlOptions): void {
  const yoga = createYoga<ServerContext, GraphQLContext>({
    schema: getSchema(),
    graphqlEndpoint: '/graphql',
    graphiql: false,
    logging: false,
    maskedErrors: { maskError: createErrorMasker(opts.logger) },
    context: ({ req, reply, actor }) => ({
      actor,
      meta: { ip: req.ip, requestId: req.id },
      services: opts.services,
      reply,
    }),
    plugins: [
      useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf'] }),
      limitsPlugin(opts.limits),
      accessLogPlugin(opts.accessLog),
      registryCodesPlugin(),
    ],
  });

  app.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    handler: async (req, reply) => {
      let actor: Actor;
      try {
        actor = (
          await resolveActor(req, {
            pool: opts.services.pool,
            lastUsed: opts.services.lastUsed,
            now: () => opts.services.clock.now(),
          })
        ).actor;
      } catch (err) {
        if (!isSwitchyardError(err, 'E_UNAUTHENTICATED')) throw err;
        opts.accessLog.record(anonymousEntry(req, 'unauthenticated'));
        return reply
          .code(401)
          .send({ errors: [{ message: err.message, extensions: { code: err.code } }] });
      }
      const decision = takeRate(opts, actor, req.ip);
      void reply.header('RateLimit-Limit', decision.limit);
      void reply.header('RateLimit-Remaining', decision.remaining);
      void reply.header('RateLimit-Reset', Math.ceil(decision.resetMs / 1000));
      if (!decision.ok) {
        const retryAfterS = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
        void reply.header('Retry-After', retryAfterS);
        return reply.code(429).send({
          errors: [
            {
              message: errorCodes.E_TOO_MANY_REQUESTS.message,
              extensions: { code: 'E_TOO_MANY_REQUESTS', retryAfterMs: decision.retryAfterMs },
            },
          ],
        });
      }
      const response = await yoga.handleNodeRequestAndResponse(req, reply, { req, reply, actor });
      response.headers.forEach((value, key) => void reply.header(key, value));
      void reply.status(response.status);
      // Buffered, not streamed: answers are small, and a client that disconnects mid-answer
      // must not surface as a server error.
      return reply.send(Buffer.from(await response.arrayBuffer()));
    },
  });
}

function takeRate(opts: GraphqlOptions, actor: Actor, ip: string) {
  const r = opts.rateLimits;
  const decisions =
    actor.kind === 'anonymous'
      ? [opts.rateLimiter.take(`ip:${ip}`, r.ipPerMinute)]
      : [
          opts.rateLimiter.take(
            actor.kind === 'user' ? `user:${actor.userId}` : `token:${actor.tokenId}`,
            r.principalPerMinute,
          ),
          ...(actor.tenantId
            ? [opts.rateLimiter.take(`tenant:${actor.tenantId}`, r.tenantPerMinute)]
            : []),
        ];
  return (
    decisions.find((d) => !d.ok) ?? decisions.reduce((a, b) => (b.remaining < a.remaining ? b : a))
  );
}

function limitsPlugin(limits: QueryLimits & { introspection: boolean }): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(queryLimitsRule(limits));
      if (!limits.introspection) addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

function accessLogPlugin(accessLog: AccessLog): Plugin<GraphQLContext> {
  return {
    onExecute({ args }) {
      const started = performance.now();
      const op = getOperationAST(
        args.document as DocumentNode,
        args.operationName as string | undefined,
      );
      const ctx = args.contextValue;
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result && Array.isArray(result.errors) ? result.errors : [];
          const a = ctx.actor;
          accessLog.record({
            tenantId: a.kind === 'anonymous' ? null : a.tenantId,
            actorKind: a.kind,
            actorId: a.kind === 'user' ? a.userId : a.kind === 'token' ? a.tokenId : null,
            tokenId: a.kind === 'token' ? a.tokenId : null,
            operationKind: op?.operation ?? 'unknown',
            operationName: op?.name?.value ?? null,
            outcome: errors.length === 0 ? 'ok' : `error:${errorCodeOf(errors[0])}`,
            durationMs: Math.round(performance.now() - started),
            ip: ctx.meta.ip,
            requestId: ctx.meta.requestId,
            occurredAt: new Date(),
          });
        },
      };
    },
  };
}

function anonymousEntry(req: FastifyRequest, outcome: string) {
  return {
    tenantId: null,
    actorKind: 'anonymous' as const,
    actorId: null,
    tokenId: null,
    operationKind: 'graphql',
    operationName: null,
    outcome,
    durationMs: null,
    ip: req.ip,
    requestId: req.id,
    occurredAt: new Date(),
  };
}
