/**
 * A server span for every HTTP request (OpenTelemetry), child of the caller's `traceparent`.
 * Its name and attributes use the route's pattern (`POST /hooks/:triggerId`), never the
 * path's values, headers or bodies. What a request starts (a run) carries the span on as its
 * trace context: `requestTraceparent(req)`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  SpanKind,
  SpanStatusCode,
  startSpan,
  traceparentOf,
  tracingEnabled,
  type Span,
} from '../../observability/tracing.ts';

declare module 'fastify' {
  interface FastifyRequest {
    span: Span | null;
  }
}

/** Registers the spans when tracing exports (else requests carry no span: no cost). */
export function registerRequestSpans(app: FastifyInstance): void {
  app.decorateRequest('span', null);
  if (!tracingEnabled()) return;
  app.addHook('onRequest', (req, _reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    req.span = startSpan(`${req.method} ${route}`, headerTraceparent(req), {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': req.method,
        'http.route': route,
        'switchyard.request_id': req.id,
      },
    });
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const span = req.span;
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
}

/**
 * The trace context for what this request starts: its span, or (tracing off) the caller's
 * `traceparent` as sent.
 */
export function requestTraceparent(req: FastifyRequest): string | null {
  return (req.span && traceparentOf(req.span)) ?? headerTraceparent(req);
}

function headerTraceparent(req: FastifyRequest): string | null {
  const v = req.headers.traceparent;
  return (Array.isArray(v) ? v[0] : v) ?? null;
}
