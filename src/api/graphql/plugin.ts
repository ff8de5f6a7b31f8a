import { Readable } from 'node:stream';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  getOperationAST,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  parse,
  type DocumentNode,
  type GraphQLSchema,
  type ParseOptions,
  type Source,
} from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import type { Actor } from '../../model/actor.ts';
import { errorCodes, isSwitchyardError } from '../../model/errors.ts';
import type { AccessLog } from '../../observability/access-log.ts';
import type { Logger } from '../../observability/logger.ts';
import { resolveActor } from '../auth.ts';
import {
  rateLimitHeaders,
  type RateBudget,
  type RateDecision,
  type RateLimiter,
} from '../rate-limit.ts';
import type { ApiServices, GraphQLContext } from './context.ts';
import { createErrorMasker, errorCodeOf, registryCodesPlugin } from './errors.ts';
import { idArgumentsPlugin } from './id-arguments.ts';
import {
  MAX_TOKENS,
  measureOperation,
  queryLimitsRule,
  requestWeight,
  type QueryLimits,
} from './limits.ts';
import { getSchema } from './schema.ts';

export type GraphqlOptions = {
  services: ApiServices;
  logger: Logger;
  accessLog: AccessLog;
  rateLimiter: RateLimiter;
  limits: QueryLimits & { introspection: boolean };
  rateLimits: { tenantPerMinute: number; principalPerMinute: number; ipPerMinute: number };
};

/** The request's budgets and the last decision on them (its headers). */
type RequestRate = { budgets: RateBudget[]; decision: RateDecision };

type ServerContext = {
  req: FastifyRequest;
  reply: FastifyReply;
  actor: Actor;
  rate: RequestRate;
};

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
      // After the access log, so that a refused request is logged with its code.
      idArgumentsPlugin(),
      rateLimitPlugin(opts.rateLimiter),
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
      // One unit now, before the document is even parsed; the rest of its cost once it is
      // known to be valid (rateLimitPlugin), from the same budgets.
      const budgets = budgetsOf(opts.rateLimits, actor, req.ip);
      const rate: RequestRate = { budgets, decision: opts.rateLimiter.takeAll(budgets, 1) };
      if (!rate.decision.ok) return sendTooManyRequests(reply, rate.decision);
      const response = await yoga.handleNodeRequestAndResponse(req, reply, {
        req,
        reply,
        actor,
        rate,
      });
      response.headers.forEach((value, key) => void reply.header(key, value));
      void reply.headers(rateLimitHeaders(rate.decision));
      if (rate.decision.ok) void reply.status(response.status);
      else {
        // The rest of its cost was refused: answered like a refusal up front.
        void reply.header('Retry-After', retryAfterSeconds(rate.decision));
        void reply.status(429);
      }
      // A subscription (Server-Sent Events) is streamed until either side ends it; yoga ends
      // the subscription when the client goes (the request's abort signal).
      if (response.body && response.headers.get('content-type')?.startsWith('text/event-stream')) {
        // Its connection is not kept for reuse: a closing server would otherwise wait for the
        // client to drop it (seconds) after the stream ended.
        void reply.header('connection', 'close');
        // A client that goes before the first chunk is read cancels a stream whose source has
        // not started, and yoga's SSE source then throws (graphql-yoga 5.24: `iterator` is
        // unset in its cancel); the error surfaces on the body's Node stream, where nobody
        // listens, and would end the process. The client is gone either way: ignore it.
        (response.body as { readable?: NodeJS.ReadableStream }).readable?.on('error', () => {});
        return reply.send(Readable.from(response.body as AsyncIterable<Uint8Array>));
      }
      // Other answers are buffered, not streamed: they are small, and a client that
      // disconnects mid-answer must not surface as a server error.
      return reply.send(Buffer.from(await response.arrayBuffer()));
    },
  });
  // Open streams would hold the server's close until their clients leave: end them first.
  app.addHook('preClose', (done) => {
    opts.services.runChanges.endAll();
    done();
  });
}

function sendTooManyRequests(reply: FastifyReply, decision: RateDecision) {
  void reply.headers(rateLimitHeaders(decision));
  void reply.header('Retry-After', retryAfterSeconds(decision));
  return reply.code(429).send({ errors: [tooManyRequests(decision)] });
}

function retryAfterSeconds(decision: RateDecision): number {
  return Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
}

function tooManyRequests(decision: RateDecision) {
  return {
    message: errorCodes.E_TOO_MANY_REQUESTS.message,
    extensions: { code: 'E_TOO_MANY_REQUESTS', retryAfterMs: decision.retryAfterMs },
  };
}

/** Anonymous callers spend their IP's budget; others their own and their tenant's. */
function budgetsOf(r: GraphqlOptions['rateLimits'], actor: Actor, ip: string): RateBudget[] {
  if (actor.kind === 'anonymous') return [{ key: `ip:${ip}`, perMinute: r.ipPerMinute }];
  return [
    {
      key: actor.kind === 'user' ? `user:${actor.userId}` : `token:${actor.tokenId}`,
      perMinute: r.principalPerMinute,
    },
    ...(actor.tenantId ? [{ key: `tenant:${actor.tenantId}`, perMinute: r.tenantPerMinute }] : []),
  ];
}

/**
 * Before execution, once the document is valid: a request spends its cost from the budgets
 * (ceil(cost / COST_PER_REQUEST), and at least one unit per mutation field), so aliases and
 * big pages do not batch past the limits. Anonymous callers may not introspect the schema.
 */
function rateLimitPlugin(rateLimiter: RateLimiter): Plugin<GraphQLContext & ServerContext> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const document = args.document as DocumentNode;
      const op = getOperationAST(document, args.operationName as string | undefined);
      if (!op) return;
      const ctx = args.contextValue;
      const m = measureOperation(args.schema as GraphQLSchema, document, op);
      if (m.introspection && ctx.actor.kind === 'anonymous') {
        setResultAndStopExecution({
          errors: [
            new GraphQLError('Sign in or send an API token to introspect the schema.', {
              extensions: { code: 'E_UNAUTHENTICATED' },
            }),
          ],
        });
        return;
      }
      const weight = requestWeight(m, op);
      if (weight <= 1) return;
      const decision = rateLimiter.takeAll(ctx.rate.budgets, weight - 1);
      ctx.rate.decision = decision;
      if (!decision.ok) {
        const e = tooManyRequests(decision);
        setResultAndStopExecution({
          errors: [new GraphQLError(e.message, { extensions: e.extensions })],
        });
      }
    },
  };
}

function limitsPlugin(limits: QueryLimits & { introspection: boolean }): Plugin {
  return {
    onParse({ setParseFn }) {
      // A huge document is refused while it is read, before any rule walks it.
      setParseFn((source: string | Source, options?: ParseOptions) => {
        try {
          return parse(source, { ...options, maxTokens: MAX_TOKENS });
        } catch (err) {
          if (err instanceof Error && /contains more th\w+ \d+ tokens/.test(err.message)) {
            throw new GraphQLError(
              `The document has more than ${MAX_TOKENS} tokens; send a smaller one.`,
              { extensions: { code: 'E_QUERY_TOO_COMPLEX' } },
            );
          }
          throw err;
        }
      });
    },
    onValidate({ addValidationRule }) {
      addValidationRule(queryLimitsRule(limits));
      if (!limits.introspection) addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

function accessLogPlugin(accessLog: AccessLog): Plugin<GraphQLContext> {
  const record = (
    args: { document: unknown; operationName?: unknown; contextValue: GraphQLContext },
    result: unknown,
    started: number,
  ) => {
    const op = getOperationAST(
      args.document as DocumentNode,
      args.operationName as string | undefined,
    );
    const ctx = args.contextValue;
    const errors =
      result && typeof result === 'object' && 'errors' in result && Array.isArray(result.errors)
        ? result.errors
        : [];
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
  };
  return {
    onExecute({ args }) {
      const started = performance.now();
      return { onExecuteDone: ({ result }) => record(args, result, started) };
    },
    // A subscription is logged once, when it opens (or is refused): its duration is the time
    // to open it, not how long the client stays.
    onSubscribe({ args }) {
      const started = performance.now();
      return { onSubscribeResult: ({ result }) => record(args, result, started) };
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
