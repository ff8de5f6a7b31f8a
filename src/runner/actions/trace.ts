import { randomBytes } from 'node:crypto';
import {
  parseTraceparent,
  SpanKind,
  SpanStatusCode,
  startSpan,
  traceparentOf,
  tracingEnabled,
} from '../../observability/tracing.ts';

/** A W3C traceparent for an outgoing call: the run's trace, a new span id. */
export function childTraceparent(parent: string | null): string {
  const p = parseTraceparent(parent);
  const traceId = p?.traceId ?? randomBytes(16).toString('hex');
  const flags = p?.flags ?? '01';
  return `00-${traceId}-${randomBytes(8).toString('hex')}-${flags}`;
}

/**
 * An outgoing HTTP call as a client span (tracing on) under the step's span: the callee gets
 * that span as its parent, so its own spans join the trace where they belong. Tracing off, the
 * call still carries the trace with a new span id. Only the method, host, port and status are
 * recorded: never the path, query, headers or bodies.
 */
export async function tracedCall<R extends { status: number }>(
  call: { method: string; url: URL; parent: string | null },
  send: (traceparent: string) => Promise<R>,
): Promise<R> {
  if (!tracingEnabled()) return send(childTraceparent(call.parent));
  const span = startSpan(`HTTP ${call.method}`, call.parent, {
    kind: SpanKind.CLIENT,
    attributes: {
      'http.request.method': call.method,
      'server.address': call.url.hostname,
      'server.port': Number(call.url.port) || (call.url.protocol === 'https:' ? 443 : 80),
    },
  });
  try {
    const res = await send(traceparentOf(span) ?? childTraceparent(call.parent));
    span.setAttribute('http.response.status_code', res.status);
    if (res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    return res;
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw err;
  } finally {
    span.end();
  }
}
