/**
 * What operators see of version-2 waits: the waiting-runs gauge on /metrics' registry, and one
 * span per wait (from its start to its end, in the run's trace) exported over OTLP/HTTP to a
 * real local collector.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { registerQueueGauges } from '../../src/observability/queue-gauges.ts';
import { startTracing, type Tracing } from '../../src/observability/tracing.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, waitFor } from '../support/engine-factories.ts';
import {
  finalRun,
  makeWorkflowV2,
  mappingExecutor,
  runnerMapping,
  stepRunsOf,
} from '../support/engine-v2.ts';
import { makeTenant } from '../support/factories.ts';

type OtlpSpan = {
  traceId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
};

let db: TestDatabase;
let tenantId: TenantId;
let worker: Worker;
let tracing: Tracing;
let collector: http.Server;
const bodies: string[] = [];

beforeAll(async () => {
  collector = http.createServer((req, res) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(b);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const port = (collector.address() as AddressInfo).port;
  tracing = startTracing({ endpoint: `http://127.0.0.1:${port}`, serviceName: 'switchyard-test' });
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
  worker = createWorker(engineDeps(db.pool), {
    executor: mappingExecutor((_id, input) => ({ status: 'succeeded', input, output: input })),
    listenUrl: db.appUrl,
    mapping: runnerMapping,
  });
  worker.start();
});
afterAll(async () => {
  await worker.stop();
  await tracing.shutdown();
  collector.close();
  await db.drop();
});

function spans(): OtlpSpan[] {
  return bodies.flatMap((b) => {
    const doc = JSON.parse(b) as { resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[] };
    return (doc.resourceSpans ?? []).flatMap((r) =>
      (r.scopeSpans ?? []).flatMap((s) => s.spans ?? []),
    );
  });
}

const attr = (span: OtlpSpan, key: string): unknown => {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
};

it('counts waiting runs on the gauge, and records one span per wait in the run trace', async () => {
  const registry = new Registry();
  registerQueueGauges(registry, { pool: db.pool, logger: testLogger, cacheMs: 0 });
  const gauge = async () => {
    const metric = await registry.getSingleMetric('switchyard_runs_waiting')!.get();
    return metric.values[0]?.value ?? -1;
  };
  expect(await gauge()).toBe(0);

  const act = await makeAction(db.pool, tenantId);
  const { workflowId } = await makeWorkflowV2(db.pool, tenantId, {
    version: 2,
    steps: [
      { id: 'a', actionId: act, input: {} },
      { id: 'pause', type: 'delay', duration: '1500ms' },
    ],
  });
  const traceId = 'ab'.repeat(16);
  const runs = await Promise.all(
    [1, 2, 3].map((i) =>
      startRun(engineDeps(db.pool), {
        tenantId,
        workflowId,
        input: { i },
        traceparent: `00-${traceId}-${'cd'.repeat(8)}-01`,
      }),
    ),
  );
  await waitFor(async () => (await gauge()) === 3, { what: 'three waiting runs on the gauge' });
  for (const r of runs) expect((await finalRun(db, r.runId)).status).toBe('succeeded');
  expect(await gauge()).toBe(0);

  await tracing.flush();
  const waits = spans().filter((s) => s.name === 'wait pause');
  expect(waits).toHaveLength(3);
  for (const r of runs) {
    const span = waits.find((s) => attr(s, 'switchyard.run_id') === r.runId)!;
    const [pause] = (await stepRunsOf(db, r.runId)).filter((s) => s.step_id === 'pause');
    expect(span.traceId).toBe(traceId);
    expect(span.parentSpanId).toBe('cd'.repeat(8));
    expect(attr(span, 'switchyard.wait_kind')).toBe('delay');
    expect(attr(span, 'switchyard.wait_end')).toBe('due');
    const ms = (Number(BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano)) / 1e6) | 0;
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(pause!.wait_until).not.toBeNull();
  }
});
