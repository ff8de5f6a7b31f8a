/**
 * ADR 0009: JavaScript steps run in warm isolates of their own tenant, a fresh context each.
 * A step of one tenant never sees another tenant's objects, and a step's globals (and its
 * changes to built-ins) do not reach the next step of the same tenant in the same isolate.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runJavaScript } from '../../src/runner/code/javascript.ts';
import { createIsolatePool, type IsolatePool } from '../../src/runner/code/javascript-isolates.ts';
import type { CodeHost } from '../../src/runner/code/sandbox-api.ts';
import { CLEAN, LOOK } from '../support/code-leftovers.ts';

const host = (): CodeHost => ({
  outbound: () => Promise.reject(new Error('no network here')),
  log: () => {},
  signal: new AbortController().signal,
});
const req = (code: string, input: unknown = null) => ({
  code,
  input,
  timeoutMs: 1_000,
  memoryLimitMb: 32,
});

/** Everything a step could leave behind for a later one: globals and changed built-ins. */
const PLANT = `
  globalThis.stash = { secret: input.secret };
  var declared = input.secret;
  Object.prototype.leaked = input.secret;
  Array.prototype.extra = () => input.secret;
  JSON.stringify = () => input.secret;
  console.log = () => {};
  return 'planted';
`;

describe('JavaScript steps in warm isolates (ADR 0009)', () => {
  let pool: IsolatePool;
  afterEach(() => pool.close());

  it("a tenant's step never sees another tenant's objects, and gets an isolate of its own", async () => {
    pool = createIsolatePool();
    const a = pool.acquire('tenant-a', 32);
    pool.release(a);
    const b = pool.acquire('tenant-b', 32);
    // Tenant A's idle isolate is not handed to tenant B.
    expect(b.isolate).not.toBe(a.isolate);
    pool.release(b);

    const warmA = { pool, tenantKey: 'tenant-a' };
    const warmB = { pool, tenantKey: 'tenant-b' };
    expect(await runJavaScript(req(PLANT, { secret: 'A-secret' }), host(), warmA)).toBe('planted');
    expect(await runJavaScript(req(LOOK), host(), warmB)).toEqual(CLEAN);
  });

  it("one step's globals and changes to built-ins do not reach the next step in the same isolate", async () => {
    // Fresh contexts only (the hardened one: runner-javascript-hardened.test.ts).
    pool = createIsolatePool({ hardened: false });
    const warm = { pool, tenantKey: 'tenant-a' };
    expect(await runJavaScript(req(PLANT, { secret: 'first' }), host(), warm)).toBe('planted');
    // The same isolate runs the next step (it is warm), in a fresh context.
    const reused = pool.acquire('tenant-a', 32);
    expect(reused.uses).toBe(2);
    pool.release(reused);
    // Its next context was made while it waited, after the planting step had ended.
    expect(reused.spare).toBeDefined();
    expect(await runJavaScript(req(LOOK), host(), warm)).toEqual(CLEAN);
    // And the one made after that step: still nothing of the first.
    expect(await runJavaScript(req(LOOK), host(), warm)).toEqual(CLEAN);
  });

  it('an isolate left holding a large heap by its step is not handed another one', async () => {
    pool = createIsolatePool({ hardened: false });
    const warm = { pool, tenantKey: 'tenant-a' };
    expect(await runJavaScript(req('return 1;'), host(), warm)).toBe(1);
    // ~16 MB of small objects: garbage once the step ends, but still on the old generation's
    // heap (V8 collects it only when it needs the room).
    const big =
      "const a = []; for (let i = 0; i < 2e5; i++) a.push({ i, s: 'x' + i }); return a.length;";
    expect(await runJavaScript(req(big), host(), warm)).toBe(2e5);
    // The heap is read on the isolate's own thread once the step is over.
    await new Promise((r) => setTimeout(r, 50));
    const next = pool.acquire('tenant-a', 32);
    // Handed on only if V8 had already collected the step's garbage (a full collection may run
    // before the step ends, as V8 sees fit: about one run in eight here): an isolate is never
    // handed on holding more than the retirement threshold (8 MB).
    if (next.uses !== 1)
      expect(next.isolate.getHeapStatisticsSync().used_heap_size).toBeLessThan(8 * 2 ** 20);
    pool.release(next);
    expect(await runJavaScript(req('return 2;'), host(), warm)).toBe(2);
  });

  it('an isolate whose step timed out or ran out of memory is not reused', async () => {
    pool = createIsolatePool();
    const warm = { pool, tenantKey: 'tenant-a' };
    await expect(runJavaScript(req('while (true) {}'), host(), warm)).rejects.toMatchObject({
      code: 'E_CODE_TIMEOUT',
    });
    expect(pool.idleCount()).toBe(0);
    await expect(
      runJavaScript(
        req('const a = []; while (true) a.push(new Array(1e6).fill(1));'),
        host(),
        warm,
      ),
    ).rejects.toMatchObject({ code: 'E_CODE_MEMORY_LIMIT' });
    expect(pool.idleCount()).toBe(0);
    // The tenant's next step runs in a new isolate.
    expect(await runJavaScript(req('return 1 + 1;'), host(), warm)).toBe(2);
    expect(pool.idleCount()).toBe(1);
  });
});
