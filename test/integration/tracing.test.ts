/**
 * End-to-end tracing: a signed webhook's request span, the run it starts and the run's step
 * attempt share one trace, exported over OTLP/HTTP to a collector (a real local HTTP server);
 * no secret or payload reaches an exported span.
 */
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepExecutor } from '../../src/cli/executor.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { Worker } from '../../src/engine/worker.ts';
import { startTracing, type Tracing } from '../../src/observability/tracing.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

type OtlpSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
};

const CANARY = `canary-${randomBytes(8).toString('hex')}`;

let db: TestDatabase;
let api: TestApi;
let worker: Worker;
let tracing: Tracing;
let collector: http.Server;
const bodies: string[] = [];
let token: string;
let triggerId: string;
let secret: string;

function spans(): OtlpSpan[] {
  return bodies.flatMap((b) => {
    const doc = JSON.parse(b) as {
      resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[];
    };
    return (doc.resourceSpans ?? []).flatMap((r) =>
      (r.scopeSpans ?? []).flatMap((s) => s.spans ?? []),
    );
  });
}

function attr(span: OtlpSpan, key: string): unknown {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
}

async function deliver(headers: Record<string, string> = {}): Promise<string> {
  const body = JSON.stringify({ n: 21, note: CANARY });
  const id = `msg_${randomBytes(6).toString('hex')}`;
  const ts = Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
    .update(`${id}.${ts}.${body}`)
    .digest('base64');
  const res = await fetch(`${api.url}/hooks/${triggerId}`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'webhook-signature': `v1,${mac}`,
      ...headers,
    },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { runId: string }).runId;
}

async function finished(runId: string): Promise<void> {
  await expect
    .poll(
      async () =>
        (
          await db.ownerPool.query<{ status: string }>(
            'select status from workflow_runs where id = $1',
            [runId],
          )
        ).rows[0]?.status,
      { timeout: 20_000, interval: 100 },
    )
    .toBe('succeeded');
}

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
  api = await startTestApi(db, { WEBHOOK_TRIGGER_CACHE_MS: '0' });
  worker = api.engine.createWorker({
    executor: createStepExecutor({
      logger: testLogger,
      pool: db.pool,
      config: loadConfig({}).runner,
      secretBox: api.secrets,
    }),
    listenUrl: db.appUrl,
  });
  worker.start();
  token = (await makeTenant(db.pool, 'Traced')).apiToken;
  const apps = await api.gql<{
    apps: { nodes: Array<{ key: string; actions: Array<{ id: string; key: string }> }> };
  }>('{ apps(first: 100) { nodes { key actions { id key } } } }', {}, { token });
  const js = apps.data!.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!;
  const wf = await api.gql<{ createWorkflow: { id: string } }>(
    'mutation { createWorkflow(name: "Traced") { id } }',
    {},
    { token },
  );
  const workflowId = wf.data!.createWorkflow.id;
  await api.gql(
    'mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { version } }',
    {
      w: workflowId,
      d: {
        steps: [
          {
            id: 'double',
            actionId: js.id,
            input: { code: 'return { doubled: input.n * 2 };', n: '{{ trigger.body.n }}' },
          },
        ],
      },
    },
    { token },
  );
  const trig = await api.gql<{ createTrigger: { secret: string; trigger: { id: string } } }>(
    'mutation($w: ID!) { createTrigger(workflowId: $w, kind: webhook) { secret trigger { id } } }',
    { w: workflowId },
    { token },
  );
  triggerId = trig.data!.createTrigger.trigger.id;
  secret = trig.data!.createTrigger.secret;
});

afterAll(async () => {
  await worker.stop();
  await api.close();
  await tracing.shutdown();
  await db.drop();
  collector.close();
});

describe('tracing', () => {
  it("a webhook's span, its run and the run's step share the caller's trace", async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const runId = await deliver({ traceparent: `00-${traceId}-${callerSpan}-01` });
    // The step's span ends before the transaction that records the step: it has ended.
    await finished(runId);
    await tracing.flush();

    const mine = spans().filter((s) => s.traceId === traceId);
    const server = mine.find((s) => s.name === 'POST /hooks/:triggerId');
    const step = mine.find((s) => s.name === 'step double');
    expect(server, JSON.stringify(mine.map((s) => s.name))).toBeDefined();
    expect(step).toBeDefined();
    expect(server!.parentSpanId).toBe(callerSpan);
    expect(attr(server!, 'http.response.status_code')).toBe(202);
    // The run carries the request's span as its trace context; its step is that span's child.
    const stored = await db.ownerPool.query<{ trace_context: string }>(
      'select trace_context from workflow_runs where id = $1',
      [runId],
    );
    expect(stored.rows[0]!.trace_context).toBe(`00-${traceId}-${server!.spanId}-01`);
    expect(step!.parentSpanId).toBe(server!.spanId);
    expect(attr(step!, 'switchyard.run_id')).toBe(runId);
    expect(attr(step!, 'switchyard.outcome')).toBe('succeeded');
    expect(attr(step!, 'switchyard.action_kind')).toBe('javascript');
  });

  it('a request without a traceparent starts a trace; no secret or payload is exported', async () => {
    const runId = await deliver();
    await finished(runId);
    await tracing.flush();
    const stored = await db.ownerPool.query<{ trace_context: string }>(
      'select trace_context from workflow_runs where id = $1',
      [runId],
    );
    const [, traceId, spanId] = stored.rows[0]!.trace_context.split('-');
    const server = spans().find((s) => s.spanId === spanId);
    expect(server?.name).toBe('POST /hooks/:triggerId');
    expect(server?.traceId).toBe(traceId);
    expect(server?.parentSpanId ?? '').toBe('');

    const exported = bodies.join('\n');
    expect(exported.length).toBeGreaterThan(0);
    for (const s of [CANARY, secret, secret.slice('whsec_'.length), token])
      expect(exported).not.toContain(s);
  });
});
