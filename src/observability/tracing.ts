/**
 * Distributed tracing (OpenTelemetry). Spans are exported over OTLP/HTTP when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise the API's no-op tracer makes every call here
 * nearly free and the W3C `traceparent` of a caller is still carried through.
 *
 * Context is passed explicitly as a `traceparent` string, the form in which it crosses every
 * boundary of this system anyway (HTTP headers, the run's stored `trace_context`, the step's
 * outgoing calls): an HTTP request's span, the run it starts, each step attempt of that run and
 * the step's outgoing calls share one trace.
 *
 * Span attributes are ids, names, kinds, statuses and error codes: never bodies, headers,
 * inputs, outputs or error messages (which may carry a secret).
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Span,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export { SpanKind, SpanStatusCode, type Span };

export type Tracing = {
  /** Exports the spans still buffered (e.g. before a test reads them). */
  flush(): Promise<void>;
  /** Exports what is buffered and stops (process shutdown). */
  shutdown(): Promise<void>;
};

let exporting = false;

/** Whether spans are exported (a tracer provider is installed by startTracing). */
export function tracingEnabled(): boolean {
  return exporting;
}

/** Installs the exporting tracer provider when an endpoint is configured. */
export function startTracing(opts: { endpoint: string | null; serviceName: string }): Tracing {
  if (!opts.endpoint) return { flush: async () => {}, shutdown: async () => {} };
  const url = `${opts.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url }),
        scheduledDelayMillis: 1_000,
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  exporting = true;
  return {
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
      exporting = false;
    },
  };
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The parts of a version-00 W3C `traceparent` with a trace id (not all zeros), else null. */
export function parseTraceparent(
  v: string | null | undefined,
): { traceId: string; spanId: string; flags: string } | null {
  const m = v ? TRACEPARENT.exec(v) : null;
  if (!m || /^0+$/.test(m[1]!)) return null;
  return { traceId: m[1]!, spanId: m[2]!, flags: m[3]! };
}

/**
 * Starts a span whose parent is `traceparent` (a W3C header value), or a new trace when it is
 * absent or invalid.
 */
export function startSpan(
  name: string,
  traceparent: string | null | undefined,
  /** `startTime`: a span recorded after the fact (a wait, from its start to its end). */
  opts: { kind: SpanKind; attributes?: Attributes; startTime?: Date },
): Span {
  const p = parseTraceparent(traceparent);
  const parent =
    p && !/^0+$/.test(p.spanId)
      ? trace.setSpanContext(ROOT_CONTEXT, {
          traceId: p.traceId,
          spanId: p.spanId,
          traceFlags: parseInt(p.flags, 16) & TraceFlags.SAMPLED,
          isRemote: true,
        })
      : ROOT_CONTEXT;
  return trace.getTracer('switchyard').startSpan(name, opts, parent);
}

/** The span as a `traceparent` for what it starts; null when no trace is recorded or carried. */
export function traceparentOf(span: Span): string | null {
  const sc = span.spanContext();
  if (!trace.isSpanContextValid(sc)) return null;
  const flags = sc.traceFlags & TraceFlags.SAMPLED ? '01' : '00';
  return `00-${sc.traceId}-${sc.spanId}-${flags}`;
}
