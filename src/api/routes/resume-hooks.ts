/**
 * The resume webhook: POST /v1/runs/:runId/waits/:stepId/resume with the wait token as a
 * bearer (`Authorization: Bearer syw_…`; the token is the capability, so the request needs no
 * other signature: TLS keeps it secret in transit, as for API tokens). The body, parsed as a
 * trigger's body is (webhooks/run-input.ts), becomes the waiting step's output; headers are not
 * kept. 200 `{ runId, stepId, resumed: true }`; the registry's code otherwise (401
 * E_WAIT_TOKEN_INVALID, 409 E_WAIT_NOT_WAITING / E_WAIT_NOT_STARTED, 413, 429).
 *
 * Registered inside the webhook ingress's scope (routes/hooks.ts): raw bytes, its body limit.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ResumeInput, ResumeResult } from '../../engine/resume.ts';
import { isSwitchyardError } from '../../model/errors.ts';
import type { AccessLog } from '../../observability/access-log.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { parseRunBody } from '../webhooks/run-input.ts';

export type ResumeRouteOptions = {
  resume: (p: ResumeInput) => Promise<ResumeResult>;
  accessLog: AccessLog;
  rateLimiter: RateLimiter;
  perIpPerMinute: number;
  now: () => Date;
};

type Params = { runId: string; stepId: string };

export function registerResumeRoute(scope: FastifyInstance, opts: ResumeRouteOptions): void {
  scope.post<{ Params: Params }>('/v1/runs/:runId/waits/:stepId/resume', (req, reply) =>
    resume(opts, req, reply),
  );
}

async function resume(
  opts: ResumeRouteOptions,
  req: FastifyRequest<{ Params: Params }>,
  reply: FastifyReply,
) {
  const started = performance.now();
  const answer = (outcome: string, status: number, body: object, tenantId: string | null) => {
    opts.accessLog.record({
      tenantId,
      actorKind: 'anonymous',
      actorId: null,
      tokenId: null,
      operationKind: 'webhook',
      operationName: 'resume',
      outcome,
      durationMs: Math.round(performance.now() - started),
      ip: req.ip,
      requestId: req.id,
      occurredAt: opts.now(),
    });
    return reply.code(status).send(body);
  };
  const limited = opts.rateLimiter.take(`resume-ip:${req.ip}`, opts.perIpPerMinute);
  if (!limited.ok) {
    void reply.header('Retry-After', Math.max(1, Math.ceil(limited.retryAfterMs / 1000)));
    return answer(
      'rate_limited',
      429,
      { code: 'E_TOO_MANY_REQUESTS', message: 'Too many resume requests; retry later.' },
      null,
    );
  }
  const auth = req.headers.authorization ?? '';
  const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1] ?? '';
  try {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const payload = parseRunBody(body, req.headers['content-type']);
    const done = await opts.resume({
      runId: req.params.runId,
      stepId: req.params.stepId,
      token,
      payload,
      actor: { kind: 'system', id: 'resume-webhook', ip: req.ip, requestId: req.id },
    });
    return answer(
      'resumed',
      200,
      { runId: done.runId, stepId: done.stepId, resumed: true },
      done.tenantId,
    );
  } catch (err) {
    if (!isSwitchyardError(err) || err.httpStatus >= 500) throw err;
    if (err.retryable) void reply.header('Retry-After', 1);
    return answer(
      err.code === 'E_WAIT_TOKEN_INVALID' ? 'bad_token' : 'rejected',
      err.httpStatus,
      { code: err.code, message: err.message, ...err.details },
      null,
    );
  }
}
