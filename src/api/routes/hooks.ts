/**
 * Webhook ingress: POST /hooks/:triggerId. Verifies the signature over the raw bytes, commits
 * the run (with its first job) and answers 202 with the run id; a redelivery of the same
 * delivery id answers 200 with the same run. Nothing is stored for a request that fails
 * verification but a counter and an access-log line.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import type { SampleRecorder } from '../../engine/trigger-sample.ts';
import { isSwitchyardError } from '../../model/errors.ts';
import { isUuid, type TriggerId } from '../../model/ids.ts';
import type { AccessLog } from '../../observability/access-log.ts';
import type { Metrics } from '../../observability/metrics.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { checkEventFilter } from '../webhooks/event-filter.ts';
import { parseRunBody, runInputHeaders } from '../webhooks/run-input.ts';
import { verifySignature, type SignatureScheme } from '../webhooks/signatures.ts';
import type { TriggerLookup } from '../webhooks/trigger-lookup.ts';
import { registerResumeRoute, type ResumeRouteOptions } from './resume-hooks.ts';
import { requestTraceparent } from './tracing.ts';

export type HooksOptions = {
  engine: Engine;
  triggers: TriggerLookup;
  metrics: Metrics;
  accessLog: AccessLog;
  rateLimiter: RateLimiter;
  maxBodyBytes: number;
  rateLimits: { perTriggerPerMinute: number; perIpPerMinute: number };
  now: () => Date;
  /** Keeps each verified delivery as its trigger's sample (testing drafts); absent: not kept. */
  samples?: SampleRecorder;
  /** The resume webhook of waitForEvent steps (routes/resume-hooks.ts); absent: not served. */
  resume?: ResumeRouteOptions;
  /** Counts a verified delivery the trigger's event filter turned away (no run). */
  recordFiltered: (p: {
    tenantId: string;
    triggerId: string;
    event: string;
    deliveryId: string | null;
  }) => Promise<void>;
};

export function registerHooks(app: FastifyInstance, opts: HooksOptions): void {
  void app.register((scope, _o, done) => {
    // Raw bytes for every content type: signatures are computed over the exact body.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: opts.maxBodyBytes },
      (_req, body, next) => next(null, body),
    );
    scope.post<{ Params: { triggerId: string } }>(
      '/hooks/:triggerId',
      { bodyLimit: opts.maxBodyBytes },
      (req, reply) => ingest(opts, req, reply),
    );
    if (opts.resume) registerResumeRoute(scope, opts.resume);
    scope.setErrorHandler((err, req, reply) => {
      if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        opts.metrics.webhookRequests.inc({ outcome: 'too_large' });
        return reply.code(413).send({
          code: 'E_PAYLOAD_TOO_LARGE',
          message: `The body is larger than ${opts.maxBodyBytes} bytes.`,
        });
      }
      req.log.error({ err }, 'webhook ingress failed');
      opts.metrics.webhookRequests.inc({ outcome: 'error' });
      return reply.code(500).send({ code: 'E_INTERNAL', message: 'Internal error.' });
    });
    done();
  });
}

async function ingest(
  opts: HooksOptions,
  req: FastifyRequest<{ Params: { triggerId: string } }>,
  reply: FastifyReply,
) {
  const started = performance.now();
  const outcome = (
    name: string,
    status: number,
    body: Record<string, unknown>,
    tenantId: string | null = null,
  ) => {
    opts.metrics.webhookRequests.inc({ outcome: name });
    opts.accessLog.record({
      tenantId,
      actorKind: 'anonymous',
      actorId: null,
      tokenId: null,
      operationKind: 'webhook',
      operationName: req.params.triggerId.slice(0, 64),
      outcome: name,
      durationMs: Math.round(performance.now() - started),
      ip: req.ip,
      requestId: req.id,
      occurredAt: opts.now(),
    });
    return reply.code(status).send(body);
  };
  const triggerId = req.params.triggerId;
  const limited = [
    opts.rateLimiter.take(`hook-ip:${req.ip}`, opts.rateLimits.perIpPerMinute),
    opts.rateLimiter.take(`hook:${triggerId}`, opts.rateLimits.perTriggerPerMinute),
  ].find((d) => !d.ok);
  if (limited) {
    void reply.header('Retry-After', Math.max(1, Math.ceil(limited.retryAfterMs / 1000)));
    return outcome('rate_limited', 429, {
      code: 'E_TOO_MANY_REQUESTS',
      message: 'Too many webhook requests; retry later.',
    });
  }
  const notFound = { code: 'E_NOT_FOUND', message: 'No such webhook (or it is disabled).' };
  if (!isUuid(triggerId)) return outcome('not_found', 404, notFound);
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  let tenantId: string | null = null;
  try {
    const target = await opts.triggers.get(triggerId as TriggerId);
    if (!target) return outcome('not_found', 404, notFound);
    const route = target.route;
    tenantId = route.tenantId;
    const verdict = verifySignature(route.scheme as SignatureScheme, {
      body,
      headers: req.headers,
      secrets: target.secrets,
      nowS: Math.floor(opts.now().getTime() / 1000),
    });
    if (!verdict.ok) {
      const name =
        verdict.reason === 'missing-headers'
          ? 'unsigned'
          : verdict.reason === 'bad-signature'
            ? 'bad_signature'
            : 'stale_timestamp';
      return outcome(
        name,
        401,
        { code: 'E_WEBHOOK_SIGNATURE', message: signatureMessage(verdict.reason) },
        tenantId,
      );
    }
    const check = checkEventFilter(route, body, req.headers);
    if (!check.run) {
      await opts.recordFiltered({
        tenantId: route.tenantId,
        triggerId: route.triggerId,
        event: check.event,
        deliveryId: verdict.deliveryId,
      });
      return outcome('filtered', 200, { filtered: true, event: check.event }, tenantId);
    }
    // Only now: an unsigned sender learns nothing about how its body would be read.
    const parsed = parseRunBody(body, req.headers['content-type']);
    const input = {
      body: parsed,
      headers: runInputHeaders(req.headers, route.keepHeaders),
      query: req.query ?? {},
    };
    // Before the start: a draft's trigger gets its sample even though the workflow cannot
    // start runs yet (unpublished), which is when a builder needs one.
    opts.samples?.record({
      tenantId: route.tenantId,
      triggerId: route.triggerId,
      payload: input,
      receivedAt: opts.now(),
    });
    const run = await opts.engine.startRun({
      tenantId: route.tenantId,
      workflowId: route.workflowId,
      triggerId: route.triggerId,
      input,
      idempotencyKey: verdict.deliveryId ?? headerValue(req, 'idempotency-key'),
      // A redelivery has new timestamps and signatures: the body decides duplicate vs conflict.
      idempotencyPayload: { body: parsed },
      traceparent: requestTraceparent(req),
    });
    return run.duplicate
      ? outcome('duplicate', 200, { runId: run.runId, duplicate: true }, tenantId)
      : outcome('accepted', 202, { runId: run.runId }, tenantId);
  } catch (err) {
    if (!isSwitchyardError(err)) throw err;
    // Fails closed with its own code, so the operator sees which trigger needs a new secret.
    if (err.code === 'E_WEBHOOK_SECRET_UNREADABLE') {
      req.log.error({ triggerId, code: err.code }, 'webhook secret cannot be decrypted');
      return outcome(
        'secret_unreadable',
        err.httpStatus,
        { code: err.code, message: err.message },
        typeof err.details.tenantId === 'string' ? err.details.tenantId : tenantId,
      );
    }
    // Overload, key provider or database down: the sender should retry later, nothing was kept.
    if (err.retryable) {
      const retryAfterMs =
        typeof err.details.retryAfterMs === 'number' ? err.details.retryAfterMs : 5_000;
      void reply.header('Retry-After', Math.max(1, Math.ceil(retryAfterMs / 1000)));
      const name =
        err.code === 'E_QUEUE_OVERLOADED' || err.code === 'E_TENANT_OVERLOADED'
          ? 'overloaded'
          : 'unavailable';
      return outcome(name, err.httpStatus, { code: err.code, message: err.message }, tenantId);
    }
    if (err.httpStatus < 500)
      return outcome(
        'rejected',
        err.httpStatus,
        { code: err.code, message: err.message },
        tenantId,
      );
    throw err;
  }
}

function signatureMessage(
  reason: 'missing-headers' | 'bad-timestamp' | 'stale-timestamp' | 'bad-signature',
): string {
  switch (reason) {
    case 'missing-headers':
      return 'The request is not signed: send the signature headers of the trigger’s scheme.';
    case 'bad-timestamp':
      return 'The signature timestamp is not a Unix time in seconds.';
    case 'stale-timestamp':
      return 'The signature timestamp is more than 5 minutes away from our clock.';
    case 'bad-signature':
      return 'The signature does not match the body and the trigger’s secret.';
  }
}

function headerValue(req: FastifyRequest, name: string): string | null {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? null;
}
