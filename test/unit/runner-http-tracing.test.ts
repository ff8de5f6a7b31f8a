/**
 * With tracing on, an HTTP action's call is a client span under the step's span, and the
 * callee receives that span as its parent; the span records the method, host and status, never
 * the path, query, headers or body. Collector and API are real local HTTP servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, type Tracing } from '../../src/observability/tracing.ts';
import { makeHarness, makeRequest, never } from '../support/runner-harness.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';

type OtlpSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
};

let api: LocalServer;
let collector: LocalServer;
let tracing: Tracing;

beforeAll(async () => {
  api = await startServer((_req, res) => sendJson(res, 200, { ok: true }));
  collector = await startServer((_req, res) => sendJson(res, 200, {}));
  tracing = startTracing({ endpoint: collector.url, serviceName: 'runner-test' });
});
afterAll(async () => {
  await tracing.shutdown();
  await api.close();
  await collector.close();
});

describe('HTTP action tracing', () => {
  it("the call is a client span under the step's span; the callee gets it as parent", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const stepSpan = '00f067aa0ba902b7';
    const h = makeHarness({ allow: [api.hostPort] });
    const r = await h.runner.execute(
      makeRequest({
        action: {
          baseUrl: api.url,
          implementation: {
            method: 'POST',
            path: '/private-path',
            query: { q: 'query-canary' },
            body: { v: 'body-canary' },
          },
        },
        context: { traceparent: `00-${traceId}-${stepSpan}-01` },
      }),
      never,
    );
    expect(r.status).toBe('succeeded');
    await tracing.flush();

    const exported = collector.requests.filter((q) => q.url === '/v1/traces');
    const spans = exported.flatMap((q) => {
      const doc = JSON.parse(q.body) as {
        resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      return doc.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
    });
    const client = spans.find((s) => s.name === 'HTTP POST');
    expect(client, JSON.stringify(spans.map((s) => s.name))).toBeDefined();
    expect(client!.traceId).toBe(traceId);
    expect(client!.parentSpanId).toBe(stepSpan);
    const received = api.requests.at(-1)!.headers.traceparent;
    expect(received).toBe(`00-${traceId}-${client!.spanId}-01`);

    const text = exported.map((q) => q.body).join('\n');
    for (const s of ['private-path', 'query-canary', 'body-canary']) expect(text).not.toContain(s);
  });
});
