import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepResult } from '../../src/model/step.ts';
import { signStandardWebhook } from '../../src/runner/actions/standard-webhooks.ts';
import { httpRequestApp, webhookApp } from '../../src/model/builtin-apps.ts';
import { createCircuitBreaker, createMemoryBreakerStore } from '../../src/runner/breaker.ts';
import { createScrubber } from '../../src/security/scrub.ts';
import {
  addConnection,
  makeHarness,
  makeRequest,
  never,
  TestClock,
} from '../support/runner-harness.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';

function failed(r: StepResult) {
  if (r.status !== 'failed') throw new Error(`expected failed, got ${JSON.stringify(r)}`);
  return r.error;
}
function output(r: StepResult): unknown {
  if (r.status !== 'succeeded') throw new Error(`expected succeeded, got ${JSON.stringify(r)}`);
  return r.output;
}

describe('HTTP actions', () => {
  let api: LocalServer;
  let tokenCalls = 0;
  let flaky = 0;

  beforeAll(async () => {
    api = await startServer((req, res) => {
      const path = req.url.split('?')[0];
      switch (path) {
        case '/token': {
          tokenCalls++;
          const ok =
            req.headers.authorization ===
              `Basic ${Buffer.from('cid:csecret-123').toString('base64')}` &&
            req.body.includes('grant_type=client_credentials');
          if (!ok) return sendJson(res, 401, { error: 'invalid_client' });
          return sendJson(res, 200, { access_token: `tok-${tokenCalls}-abcdef`, expires_in: 3600 });
        }
        case '/echo':
          return sendJson(res, 200, {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
          });
        case '/text':
          res.writeHead(200, { 'content-type': 'text/plain' });
          return void res.end('plain words');
        case '/status': {
          const status = Number(new URL(req.url, 'http://x').searchParams.get('s'));
          const headers: Record<string, string> = {};
          const ra = new URL(req.url, 'http://x').searchParams.get('ra');
          if (ra) headers['retry-after'] = ra;
          return sendJson(res, status, { error: `status ${status}` }, headers);
        }
        case '/reject':
          return sendJson(res, 400, { youSent: req.url });
        case '/flaky':
          flaky++;
          return flaky <= 3 ? sendJson(res, 503, { down: true }) : sendJson(res, 200, { up: true });
        default:
          return sendJson(res, 404, { error: 'nope' });
      }
    });
  });
  afterAll(() => api.close());

  const echoAction = (over: Record<string, unknown> = {}) => ({
    baseUrl: api.url,
    implementation: {
      method: 'POST',
      path: '/echo',
      query: { q: '{{ input.q }}' },
      body: { v: '{{ input.v }}' },
      ...over,
    },
  });

  it('resolves templates, sends Idempotency-Key (stable across attempts) and traceparent', async () => {
    const h = makeHarness({ allow: [api.hostPort] });
    const req = makeRequest({
      action: echoAction(),
      step: { input: { q: 'a b', v: '{{ trigger.body.n }}' } },
    });
    req.context.trigger = { body: { n: 42 } };
    const first = output(await h.runner.execute(req, never)) as {
      headers: Record<string, string>;
      body: string;
      url: string;
    };
    const second = output(
      await h.runner.execute({ ...req, context: { ...req.context, attempt: 2 } }, never),
    ) as typeof first;
    expect(first.url).toBe('/echo?q=a+b');
    expect(JSON.parse(first.body)).toEqual({ v: 42 });
    expect(first.headers['idempotency-key']).toBe(`${req.context.runId}:step1`);
    expect(second.headers['idempotency-key']).toBe(first.headers['idempotency-key']);
    expect(first.headers.traceparent).toMatch(
      /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/,
    );
  });

  it('returns text responses as strings', async () => {
    const h = makeHarness({ allow: [api.hostPort] });
    const r = await h.runner.execute(
      makeRequest({
        action: { baseUrl: api.url, implementation: { method: 'GET', path: '/text' } },
      }),
      never,
    );
    expect(output(r)).toBe('plain words');
  });

  describe('auth kinds', () => {
    const authHeaders = async (
      conn: Parameters<typeof addConnection>[1],
    ): Promise<{ headers: Record<string, string>; url: string; echoed: string }> => {
      const h = makeHarness({ allow: [api.hostPort] });
      const connectionId = addConnection(h, conn);
      const r = await h.runner.execute(
        makeRequest({
          action: { baseUrl: api.url, implementation: { method: 'GET', path: '/echo' } },
          step: { connectionId },
        }),
        never,
      );
      // What the upstream received; the step's output (its echo) has the secret scrubbed.
      const sent = api.requests.at(-1)!;
      return {
        headers: sent.headers as Record<string, string>,
        url: sent.url,
        echoed: JSON.stringify(output(r)),
      };
    };

    it('none', async () => {
      expect((await authHeaders({ authKind: 'none' })).headers.authorization).toBeUndefined();
    });
    it('api_key in a header', async () => {
      const r = await authHeaders({
        authKind: 'api_key',
        authConfig: { in: 'header', name: 'X-Api-Key' },
        secret: { apiKey: 'k-123456' },
      });
      expect(r.headers['x-api-key']).toBe('k-123456');
      expect(r.echoed).toContain('"x-api-key":"[secret]"');
    });
    it('api_key in the query', async () => {
      const r = await authHeaders({
        authKind: 'api_key',
        authConfig: { in: 'query', name: 'api_key' },
        secret: { apiKey: 'k-123456' },
      });
      expect(r.url).toBe('/echo?api_key=k-123456');
      expect(r.echoed).toContain('"url":"/echo?api_key=[secret]"');
    });
    it('a secret straddling the cut of an error snippet leaves no part behind', async () => {
      const h = makeHarness({ allow: [api.hostPort] });
      const connectionId = addConnection(h, {
        authKind: 'api_key',
        authConfig: { in: 'query', name: 'api_key' },
        secret: { apiKey: 'k-straddle-123456' },
      });
      // {"youSent":"/reject?pad=<257>&api_key=  puts the key's first char at 290 of 300.
      const e = failed(
        await h.runner.execute(
          makeRequest({
            action: {
              baseUrl: api.url,
              implementation: { method: 'GET', path: '/reject', query: { pad: 'p'.repeat(257) } },
            },
            step: { connectionId },
          }),
          never,
        ),
      );
      expect(e.code).toBe('E_UPSTREAM_REJECTED');
      expect(e.message).toContain('api_key=[secret]');
      expect(e.message).not.toContain('k-straddle');
    });
    it('bearer', async () => {
      const r = await authHeaders({ authKind: 'bearer', secret: { token: 'bt-123456' } });
      expect(r.headers.authorization).toBe('Bearer bt-123456');
      expect(r.echoed).toContain('"authorization":"[secret]"');
    });
    it('basic', async () => {
      const r = await authHeaders({
        authKind: 'basic',
        secret: { username: 'ann', password: 'pw-123456' },
      });
      expect(r.headers.authorization).toBe(
        `Basic ${Buffer.from('ann:pw-123456').toString('base64')}`,
      );
      expect(r.echoed).toContain('"authorization":"[secret]"');
    });
    it('oauth2_client_credentials: token fetched through the gate and cached until expiry', async () => {
      const clock = new TestClock();
      const h = makeHarness({ allow: [api.hostPort], clock });
      const connectionId = addConnection(h, {
        authKind: 'oauth2_client_credentials',
        authConfig: { tokenUrl: `${api.url}/token` },
        secret: { clientId: 'cid', clientSecret: 'csecret-123' },
      });
      const req = makeRequest({
        action: { baseUrl: api.url, implementation: { method: 'GET', path: '/echo' } },
        step: { connectionId },
      });
      const before = tokenCalls;
      const sent = async () => {
        const out = output(await h.runner.execute(req, never)) as {
          headers: Record<string, string>;
        };
        // The echo of the token, fetched or cached, is scrubbed from the output.
        expect(out.headers.authorization).toBe('[secret]');
        return api.requests.at(-1)!.headers.authorization;
      };
      const a = await sent();
      const b = await sent();
      expect(a).toBe(`Bearer tok-${before + 1}-abcdef`);
      expect(b).toBe(a);
      expect(tokenCalls).toBe(before + 1);
      clock.advance(3600_000);
      expect(await sent()).toBe(`Bearer tok-${before + 2}-abcdef`);
      // The token never reaches the execution log.
      expect(JSON.stringify(h.logs)).not.toContain('tok-');
    });
    it('a missing secret field is a clear non-retryable error', async () => {
      const h = makeHarness({ allow: [api.hostPort] });
      const connectionId = addConnection(h, { authKind: 'bearer', secret: {} });
      const e = failed(
        await h.runner.execute(
          makeRequest({ action: echoAction(), step: { connectionId, input: { q: 1, v: 2 } } }),
          never,
        ),
      );
      expect(e).toMatchObject({ code: 'E_CONNECTION_INVALID', retryable: false });
      expect(e.message).toContain('"token"');
    });
  });

  it("scrubs a step's data with its own connection's secrets only, not every secret the process knows", async () => {
    const processWide = createScrubber();
    processWide.add('widgets-42'); // another tenant's secret, say
    const h = makeHarness({ allow: [api.hostPort], scrubber: processWide });
    const connectionId = addConnection(h, { authKind: 'bearer', secret: { token: 'bt-own-777' } });
    const r = await h.runner.execute(
      makeRequest({
        action: echoAction(),
        step: { connectionId, input: { q: 'widgets-42', v: 'bt-own-777' } },
      }),
      never,
    );
    const out = output(r) as { url: string; body: string; headers: Record<string, string> };
    expect(out.url).toBe('/echo?q=widgets-42');
    expect(out.body).toBe('{"v":"[secret]"}');
    expect(out.headers.authorization).toBe('[secret]');
  });

  describe('status mapping', () => {
    const statusReq = (s: number, ra?: string) =>
      makeRequest({
        action: {
          baseUrl: api.url,
          implementation: {
            method: 'GET',
            path: '/status',
            query: { s: String(s), ...(ra ? { ra } : {}) },
          },
        },
      });

    it.each([408, 429, 500, 502, 503, 504])('%i is retryable', async (s) => {
      const h = makeHarness({ allow: [api.hostPort] });
      expect(failed(await h.runner.execute(statusReq(s), never))).toMatchObject({
        code: 'E_UPSTREAM_UNAVAILABLE',
        retryable: true,
      });
    });
    it.each([400, 401, 403, 404, 409, 422])('%i is not retryable', async (s) => {
      const h = makeHarness({ allow: [api.hostPort] });
      expect(failed(await h.runner.execute(statusReq(s), never))).toMatchObject({
        code: 'E_UPSTREAM_REJECTED',
        retryable: false,
      });
    });
    it('honours Retry-After in seconds and as an HTTP date', async () => {
      const clock = new TestClock();
      const h = makeHarness({ allow: [api.hostPort], clock });
      expect(failed(await h.runner.execute(statusReq(429, '7'), never)).retryAfterMs).toBe(7000);
      const date = new Date(clock.now().getTime() + 90_000).toUTCString();
      expect(failed(await h.runner.execute(statusReq(503, date), never)).retryAfterMs).toBe(90_000);
    });
    it('network errors are retryable', async () => {
      const dead = await startServer(() => undefined);
      await dead.close();
      const h = makeHarness({ allow: [dead.hostPort] });
      const r = await h.runner.execute(
        makeRequest({
          action: { baseUrl: dead.url, implementation: { method: 'GET', path: '/' } },
        }),
        never,
      );
      expect(failed(r)).toMatchObject({ code: 'E_NETWORK', retryable: true });
    });
    it('a blocked address is not retryable', async () => {
      const h = makeHarness({ allow: [] });
      const r = await h.runner.execute(
        makeRequest({
          action: {
            baseUrl: 'https://169.254.169.254',
            implementation: { method: 'GET', path: '/' },
          },
        }),
        never,
      );
      expect(failed(r)).toMatchObject({ code: 'E_GATE_BLOCKED', retryable: false });
    });
  });

  it('opens the circuit breaker after repeated failures, fails fast, and a probe closes it', async () => {
    const clock = new TestClock();
    const store = createMemoryBreakerStore(clock);
    const changes: string[] = [];
    const breaker = createCircuitBreaker({
      store,
      failureThreshold: 3,
      cooldownMs: 10_000,
      probeGraceMs: 0,
      onStateChange: (_k, from, to) => changes.push(`${from}->${to}`),
    });
    const h = makeHarness({ allow: [api.hostPort], clock, breaker });
    const req = makeRequest({
      action: { baseUrl: api.url, implementation: { method: 'GET', path: '/flaky' } },
    });
    flaky = 0;
    for (let i = 0; i < 3; i++)
      expect(failed(await h.runner.execute(req, never)).code).toBe('E_UPSTREAM_UNAVAILABLE');
    const fast = failed(await h.runner.execute(req, never));
    expect(fast).toMatchObject({ code: 'E_CIRCUIT_OPEN', retryable: true, retryAfterMs: 10_000 });
    expect(flaky).toBe(3); // the fast failure sent nothing
    expect(store.list()[0]).toMatchObject({ host: api.hostPort, state: 'open' });
    clock.advance(10_000);
    expect(output(await h.runner.execute(req, never))).toEqual({ up: true }); // the probe
    expect(store.list()[0]).toMatchObject({ state: 'closed', failures: 0 });
    expect(changes).toEqual(['closed->open', 'half_open->closed']);
  });

  it('a step over its rate limit is handed back with the wait for its slot', async () => {
    const clock = new TestClock();
    const h = makeHarness({ allow: [api.hostPort], clock });
    const req = makeRequest({
      action: { ...echoAction(), rateLimit: { requests: 2, perSeconds: 10 } },
      step: { input: { q: 1, v: 1 } },
    });
    expect((await h.runner.execute(req, never)).status).toBe('succeeded');
    expect((await h.runner.execute(req, never)).status).toBe('succeeded');
    const e = failed(await h.runner.execute(req, never));
    expect(e).toMatchObject({ code: 'E_RATE_LIMITED', retryable: true, retryAfterMs: 5_000 });
    clock.advance(5_000);
    expect((await h.runner.execute(req, never)).status).toBe('succeeded');
  });

  it('validates input and output against the schemas, naming the field', async () => {
    const h = makeHarness({ allow: [api.hostPort] });
    const bad = await h.runner.execute(
      makeRequest({
        action: {
          ...echoAction(),
          inputSchema: {
            type: 'object',
            required: ['q', 'v'],
            properties: { q: { type: 'string' } },
          },
        },
        step: { input: { q: 5 } },
      }),
      never,
    );
    expect(failed(bad)).toMatchObject({ code: 'E_STEP_INPUT_INVALID', retryable: false });
    expect(failed(bad).message).toContain('input.v is required');
    expect(failed(bad).message).toContain('input.q must be string');
    const badOut = await h.runner.execute(
      makeRequest({
        action: { ...echoAction(), outputSchema: { type: 'object', required: ['nope'] } },
        step: { input: { q: 1, v: 1 } },
      }),
      never,
    );
    expect(failed(badOut)).toMatchObject({ code: 'E_STEP_OUTPUT_INVALID', retryable: false });
    expect(failed(badOut).message).toContain('output.nope is required');
  });

  it('a missing mapping path fails non-retryably and names the path', async () => {
    const h = makeHarness({ allow: [api.hostPort] });
    const r = await h.runner.execute(
      makeRequest({
        action: echoAction(),
        step: { input: { v: '{{ steps.fetch.output.items }}' } },
      }),
      never,
    );
    expect(failed(r)).toMatchObject({ code: 'E_MAPPING_PATH_MISSING', retryable: false });
    expect(failed(r).message).toContain('steps.fetch.output.items');
  });

  it('skips a step whose condition is false', async () => {
    const h = makeHarness({ allow: [api.hostPort] });
    const req = makeRequest({ action: echoAction(), step: { if: '{{ trigger.body.go }}' } });
    req.context.trigger = { body: { go: false } };
    expect(await h.runner.execute(req, never)).toEqual({ status: 'skipped' });
  });

  it('writes log lines with the connection’s secrets scrubbed', async () => {
    const h = makeHarness({ allow: [api.hostPort] });
    const connectionId = addConnection(h, {
      authKind: 'api_key',
      authConfig: { in: 'query', name: 'key' },
      secret: { apiKey: 'sekrit-987654' },
    });
    const r = await h.runner.execute(
      makeRequest({
        action: { baseUrl: api.url, implementation: { method: 'GET', path: '/reject' } },
        step: { connectionId },
      }),
      never,
    );
    expect(failed(r).code).toBe('E_UPSTREAM_REJECTED');
    expect(failed(r).message).toContain('key=[secret]');
    const text = JSON.stringify(h.logs);
    expect(h.logs[0]!.lines.length).toBeGreaterThan(0);
    expect(text).not.toContain('sekrit-987654');
  });

  describe('built-in apps', () => {
    it('generic HTTP request', async () => {
      const h = makeHarness({ allow: [api.hostPort] });
      const a = httpRequestApp.actions[0]!;
      const r = await h.runner.execute(
        makeRequest({
          action: {
            kind: a.kind,
            inputSchema: a.inputSchema,
            outputSchema: a.outputSchema,
            implementation: a.implementation,
          },
          step: { input: { method: 'PUT', url: `${api.url}/echo`, body: { x: 1 } } },
        }),
        never,
      );
      const out = output(r) as { status: number; body: { method: string; body: string } };
      expect(out.status).toBe(200);
      expect(out.body.method).toBe('PUT');
      expect(JSON.parse(out.body.body)).toEqual({ x: 1 });
    });

    it('Standard Webhooks signature matches the spec test vector', () => {
      expect(
        signStandardWebhook({
          secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
          id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
          timestampS: 1614265330,
          body: '{"test": 2432232314}',
        }),
      ).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    });

    it('outgoing webhook is signed, and the receiver can verify it', async () => {
      const clock = new TestClock();
      const h = makeHarness({ allow: [api.hostPort], clock });
      const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
      const connectionId = addConnection(h, {
        authKind: 'none',
        secret: { signingSecret: secret },
      });
      const a = webhookApp.actions[0]!;
      const r = await h.runner.execute(
        makeRequest({
          action: {
            kind: a.kind,
            inputSchema: a.inputSchema,
            outputSchema: a.outputSchema,
            implementation: a.implementation,
          },
          step: { connectionId, input: { url: `${api.url}/echo`, payload: { hello: 'world' } } },
        }),
        never,
      );
      const got = (output(r) as { body: { headers: Record<string, string>; body: string } }).body;
      expect(got.headers['webhook-timestamp']).toBe(String(clock.now().getTime() / 1000));
      expect(got.headers['webhook-signature']).toBe(
        signStandardWebhook({
          secret,
          id: got.headers['webhook-id']!,
          timestampS: Number(got.headers['webhook-timestamp']),
          body: got.body,
        }),
      );
      expect(got.body).toBe('{"hello":"world"}');
    });
  });
});
