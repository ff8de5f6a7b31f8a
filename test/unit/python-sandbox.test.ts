/**
 * The Python sandbox's life cycle: the warm pool (a step takes a waiting interpreter, and
 * each interpreter serves exactly one step), and the refusal paths — no bubblewrap, or a
 * "sandbox" that does not hold — with the error code and the /readyz detail.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { registerHealthRoutes } from '../../src/api/routes/health.ts';
import { javascriptApp, pythonApp } from '../../src/model/builtin-apps.ts';
import type { StepResult } from '../../src/model/step.ts';
import {
  createPythonSandbox,
  pythonReadinessCheck,
  type PythonSandbox,
} from '../../src/runner/code/python-sandbox.ts';
import { makeHarness, makeRequest, never } from '../support/runner-harness.ts';

function codeStep(app: typeof pythonApp, code: string) {
  const a = app.actions[0]!;
  return makeRequest({
    action: {
      kind: a.kind,
      inputSchema: a.inputSchema,
      outputSchema: a.outputSchema,
      implementation: a.implementation,
    },
    step: { input: { code } },
  });
}

function failed(r: StepResult) {
  if (r.status !== 'failed') throw new Error(`expected failed, got ${JSON.stringify(r)}`);
  return r.error;
}

const sandboxes: PythonSandbox[] = [];
const dirs: string[] = [];
function sandbox(over: { bwrapPath?: string; warmPoolSize?: number } = {}): PythonSandbox {
  const s = createPythonSandbox({
    pythonPath: 'python3',
    bwrapPath: '/usr/bin/bwrap',
    warmPoolSize: 1,
    ...over,
  });
  sandboxes.push(s);
  return s;
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function readyz(s: PythonSandbox) {
  const app = Fastify();
  registerHealthRoutes(app, [pythonReadinessCheck(s)]);
  const res = await app.inject({ method: 'GET', url: '/readyz' });
  await app.close();
  return { status: res.statusCode, body: res.json<{ checks: Record<string, unknown> }>() };
}

afterAll(() => {
  for (const s of sandboxes) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the warm pool', () => {
  it('a step takes a waiting interpreter, and each interpreter runs exactly one step', async () => {
    const s = sandbox({ warmPoolSize: 1 });
    const h = makeHarness({ python: s });
    expect(await s.status()).toMatchObject({ available: true });
    await until(() => s.stats().idle === 1);

    const first = await h.runner.execute(
      codeStep(pythonApp, 'import json\njson.left_behind = "tenant A"\nreturn "set"'),
      never,
    );
    expect(first).toMatchObject({ status: 'succeeded', output: 'set' });
    expect(s.stats()).toMatchObject({ warmStarts: 1, coldStarts: 0 });

    // Refilled in the background; the next step gets a fresh interpreter, so nothing the
    // previous step (of any tenant) left in a module is there.
    await until(() => s.stats().idle === 1);
    const second = await h.runner.execute(
      codeStep(pythonApp, 'import json\nreturn json.left_behind'),
      never,
    );
    expect(failed(second).message).toMatch(/AttributeError.*left_behind/);
    expect(s.stats()).toMatchObject({ warmStarts: 2, coldStarts: 0 });
  });

  it('a step that takes an interpreter still warming up gets its result', async () => {
    const s = sandbox({ warmPoolSize: 2 });
    const h = makeHarness({ python: s });
    await s.status();
    // At once: the pool's interpreters are spawned but have not said `ready` yet.
    const results = await Promise.all(
      [1, 2, 3].map((n) => h.runner.execute(codeStep(pythonApp, `return ${n} * 2`), never)),
    );
    expect(results.map((r) => (r.status === 'succeeded' ? r.output : r))).toEqual([2, 4, 6]);
    expect(s.stats().warmStarts + s.stats().coldStarts).toBe(3);
  });

  it('with an empty pool a step starts its own interpreter (cold) and still works', async () => {
    const s = sandbox({ warmPoolSize: 0 });
    const h = makeHarness({ python: s });
    expect(await h.runner.execute(codeStep(pythonApp, 'return 6 * 7'), never)).toMatchObject({
      status: 'succeeded',
      output: 42,
    });
    expect(s.stats()).toMatchObject({ warmStarts: 0, coldStarts: 1, idle: 0 });
  });

  it('reports an available sandbox in /readyz', async () => {
    const s = sandbox({ warmPoolSize: 0 });
    const r = await readyz(s);
    expect(r.status).toBe(200);
    expect(r.body.checks.python).toMatchObject({ ok: true, detail: /bubblewrap sandbox/ });
  });
});

describe('no sandbox, no Python steps', () => {
  it('without bubblewrap, Python steps are refused with a clear code; JavaScript still runs', async () => {
    const s = sandbox({ bwrapPath: '/nonexistent/bwrap' });
    const h = makeHarness({ python: s });
    const r = await h.runner.execute(codeStep(pythonApp, 'return 1'), never);
    expect(failed(r)).toMatchObject({ code: 'E_PYTHON_SANDBOX_UNAVAILABLE', retryable: false });
    expect(failed(r).message).toMatch(/bubblewrap was not found at \/nonexistent\/bwrap/);
    expect(await h.runner.execute(codeStep(javascriptApp, 'return 1;'), never)).toMatchObject({
      status: 'succeeded',
      output: 1,
    });

    const ready = await readyz(s);
    expect(ready.status).toBe(200);
    const check = ready.body.checks.python as { ok: boolean; detail: string };
    expect(check.detail).toMatch(
      /^Python steps refused \(E_PYTHON_SANDBOX_UNAVAILABLE\): bubblewrap was not found/,
    );
  });

  it('a "sandbox" that does not hold fails the self-check: never run weaker', async () => {
    // A stand-in for a broken bubblewrap: it drops every option and runs the command as is.
    const dir = mkdtempSync(join(tmpdir(), 'sy-fake-bwrap-'));
    dirs.push(dir);
    const fake = join(dir, 'bwrap');
    writeFileSync(fake, '#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n');
    chmodSync(fake, 0o755);
    const s = sandbox({ bwrapPath: fake });
    const status = await s.status();
    expect(status).toMatchObject({ available: false, code: 'E_PYTHON_SANDBOX_UNAVAILABLE' });
    expect(status.detail).toMatch(
      /self-check failed: a sandboxed process could read \/etc\/passwd/,
    );
    expect(status.detail).toMatch(/open a socket/);
    expect(status.detail).toMatch(/fork/);

    const h = makeHarness({ python: s });
    const r = await h.runner.execute(
      codeStep(pythonApp, 'import enum\nreturn enum.sys.modules["posix"].getpid()'),
      never,
    );
    expect(failed(r).code).toBe('E_PYTHON_SANDBOX_UNAVAILABLE');
    expect(s.stats()).toMatchObject({ warmStarts: 0, coldStarts: 0, idle: 0 });
  });

  it('a missing interpreter keeps its own code', async () => {
    const s = createPythonSandbox({
      pythonPath: '/nonexistent/python3',
      bwrapPath: '/usr/bin/bwrap',
      warmPoolSize: 1,
    });
    sandboxes.push(s);
    expect(await s.status()).toMatchObject({
      available: false,
      code: 'E_PYTHON_UNAVAILABLE',
    });
    expect((await s.status()).detail).toContain('/nonexistent/python3');
  });
});
