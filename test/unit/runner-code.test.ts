import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepResult } from '../../src/model/step.ts';
import { javascriptApp, pythonApp } from '../../src/model/builtin-apps.ts';
import { makeHarness, makeRequest, never, type Harness } from '../support/runner-harness.ts';
import { sendJson, startServer, type LocalServer } from '../support/runner-servers.ts';

function codeStep(app: typeof javascriptApp, code: string, extra: Record<string, unknown> = {}) {
  const a = app.actions[0]!;
  return makeRequest({
    action: {
      kind: a.kind,
      inputSchema: a.inputSchema,
      outputSchema: a.outputSchema,
      implementation: a.implementation,
    },
    step: { input: { code, ...extra } },
  });
}

function error(r: StepResult) {
  if (r.status !== 'failed') throw new Error(`expected failed, got ${JSON.stringify(r)}`);
  return r.error;
}

describe.each([
  { lang: 'javascript', app: javascriptApp },
  { lang: 'python', app: pythonApp },
])('$lang code steps', ({ lang, app }) => {
  let api: LocalServer;
  let h: Harness;
  const js = lang === 'javascript';
  const src = (jsCode: string, pyCode: string) => (js ? jsCode : pyCode);

  beforeAll(async () => {
    api = await startServer((req, res) =>
      sendJson(res, 200, { got: req.url, key: req.headers['idempotency-key'] ?? null }),
    );
    h = makeHarness({ allow: [api.hostPort], code: { timeoutMs: 1_000, memoryLimitMb: 32 } });
  });
  afterAll(() => api.close());

  it('returns an output and sends console/print to the execution log', async () => {
    const r = await h.runner.execute(
      codeStep(
        app,
        src(
          'console.log("n is", input.n); return { double: input.n * 2 };',
          'print("n is", input["n"])\nreturn {"double": input["n"] * 2}',
        ),
        { n: 21 },
      ),
      never,
    );
    expect(r).toMatchObject({ status: 'succeeded', output: { double: 42 } });
    expect(h.logs.at(-1)!.lines[0]).toEqual({ level: 'info', message: 'n is 21' });
  });

  it('reaches the network only through the gated http helper', async () => {
    const ok = await h.runner.execute(
      codeStep(
        app,
        src(
          `const r = await http.get(${JSON.stringify(api.url)} + '/x'); return r.body;`,
          `r = http.get(${JSON.stringify(api.url)} + '/x')\nreturn r["body"]`,
        ),
      ),
      never,
    );
    expect(ok).toMatchObject({ status: 'succeeded', output: { got: '/x' } });
    expect(api.requests.at(-1)!.headers['idempotency-key']).toMatch(/:step1:1$/);
    expect(api.requests.at(-1)!.headers.traceparent).toMatch(
      /^00-0af7651916cd43dd8448eb211c80319c-/,
    );
    const blocked = await h.runner.execute(
      codeStep(
        app,
        src(
          `return await http.get('http://169.254.169.254/latest/meta-data/');`,
          `return http.get('https://169.254.169.254/latest/meta-data/')`,
        ),
      ),
      never,
    );
    expect(error(blocked)).toMatchObject({ code: 'E_GATE_BLOCKED', retryable: false });
  });

  it('an uncaught helper failure keeps its own (retryable) code', async () => {
    const dead = await startServer(() => undefined);
    await dead.close();
    const h2 = makeHarness({ allow: [dead.hostPort] });
    const r = await h2.runner.execute(
      codeStep(
        app,
        src(
          `return await http.get(${JSON.stringify(dead.url)});`,
          `return http.get(${JSON.stringify(dead.url)})`,
        ),
      ),
      never,
    );
    expect(error(r)).toMatchObject({ code: 'E_NETWORK', retryable: true });
  });

  it('an infinite loop ends with E_CODE_TIMEOUT and the worker stays healthy', async () => {
    const started = Date.now();
    const r = await h.runner.execute(
      codeStep(app, src('while (true) {}', 'while True:\n    pass')),
      never,
    );
    expect(error(r)).toMatchObject({ code: 'E_CODE_TIMEOUT', retryable: false });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(
      await h.runner.execute(codeStep(app, src('return 1;', 'return 1')), never),
    ).toMatchObject({ status: 'succeeded', output: 1 });
  });

  it('a memory bomb ends with E_CODE_MEMORY_LIMIT and the worker stays healthy', async () => {
    const r = await h.runner.execute(
      codeStep(
        app,
        src(
          'const a = []; while (true) a.push(new Array(1e5).fill(7));',
          'a = []\nwhile True:\n    a.append(" " * 10_000_000)',
        ),
      ),
      never,
    );
    expect(error(r)).toMatchObject({ code: 'E_CODE_MEMORY_LIMIT', retryable: false });
    expect(
      await h.runner.execute(codeStep(app, src('return 2;', 'return 2')), never),
    ).toMatchObject({ status: 'succeeded', output: 2 });
  });

  it('has no modules, file system or environment', async () => {
    const r = await h.runner.execute(
      codeStep(
        app,
        src(
          "return require('fs').readFileSync('/etc/passwd', 'utf8');",
          'import os\nreturn os.environ',
        ),
      ),
      never,
    );
    expect(error(r)).toMatchObject({ code: 'E_CODE_FORBIDDEN', retryable: false });
    expect(error(r).message).toMatch(
      js ? /require is not available/ : /import of 'os' is not allowed/,
    );
    const env = await h.runner.execute(
      codeStep(
        app,
        src(
          'return typeof process === "undefined" ? null : process.env;',
          "return open('/etc/passwd').read()",
        ),
      ),
      never,
    );
    if (js) expect(env).toMatchObject({ status: 'succeeded', output: null });
    else expect(error(env).code).toBe('E_CODE_FORBIDDEN');
  });

  it('a thrown error is a clear non-retryable E_CODE_ERROR', async () => {
    const r = await h.runner.execute(
      codeStep(app, src('throw new Error("kaboom");', 'raise ValueError("kaboom")')),
      never,
    );
    expect(error(r)).toMatchObject({ code: 'E_CODE_ERROR', retryable: false });
    expect(error(r).message).toContain('kaboom');
  });
});

describe('javascript specifics', () => {
  it('leaves no raw host bridge where the step can reach it', async () => {
    const h = makeHarness({ code: { timeoutMs: 2_000 } });
    const r = await h.runner.execute(
      codeStep(
        javascriptApp,
        `return [typeof globalThis.__http, typeof globalThis.__log, typeof $0, typeof $1,
          typeof hostHttp, typeof hostLog, Object.getOwnPropertyNames(globalThis)
            .filter((k) => ['console', 'http', 'require', 'input'].includes(k)).sort()];`,
      ),
      never,
    );
    expect(r).toMatchObject({
      status: 'succeeded',
      output: [
        'undefined',
        'undefined',
        'undefined',
        'undefined',
        'undefined',
        'undefined',
        ['console', 'http', 'input', 'require'],
      ],
    });
  });

  // Short scripts compile on the worker's thread, long ones on the isolate's: both paths give
  // the step's output, and a syntax error is the step's E_CODE_ERROR, never the worker's.
  it.each([
    { size: 'short', pad: '' },
    { size: 'long (over 16 KB)', pad: `/* ${'x'.repeat(20_000)} */\n` },
  ])('a $size script runs, and its syntax error fails the step only', async ({ pad }) => {
    const h = makeHarness({ code: { timeoutMs: 2_000 } });
    const ok = await h.runner.execute(
      codeStep(javascriptApp, `${pad}return { n: input.n + 1 };`, { n: 1 }),
      never,
    );
    expect(ok).toMatchObject({ status: 'succeeded', output: { n: 2 } });
    const bad = await h.runner.execute(codeStep(javascriptApp, `${pad}return {;`), never);
    expect(error(bad)).toMatchObject({ code: 'E_CODE_ERROR', retryable: false });
    expect(error(bad).message).toContain('SyntaxError');
  });
});

describe('python specifics', () => {
  it('refuses escapes through dunder attributes and subprocess', async () => {
    const h = makeHarness({ code: { timeoutMs: 2_000 } });
    for (const code of [
      'return ().__class__.__base__.__subclasses__()',
      'import subprocess',
      'import socket',
      'return __import__("os")',
    ]) {
      const r = await h.runner.execute(codeStep(pythonApp, code), never);
      expect(error(r).code).toBe('E_CODE_FORBIDDEN');
    }
  });

  it('a missing python3 fails Python steps only, with a clear error', async () => {
    const h = makeHarness({ code: { pythonPath: '/nonexistent/python3' } });
    const r = await h.runner.execute(codeStep(pythonApp, 'return 1'), never);
    expect(error(r)).toMatchObject({ code: 'E_PYTHON_UNAVAILABLE', retryable: false });
    expect(error(r).message).toContain('python3');
    expect(await h.runner.execute(codeStep(javascriptApp, 'return 1;'), never)).toMatchObject({
      status: 'succeeded',
    });
  });
});
