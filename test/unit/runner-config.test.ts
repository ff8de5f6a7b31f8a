import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { isSwitchyardError } from '../../src/model/errors.ts';

describe('runner configuration', () => {
  it('has safe defaults', () => {
    const c = loadConfig({});
    expect(c.runner.gate).toEqual({
      connectTimeoutMs: 5_000,
      headersTimeoutMs: 15_000,
      totalTimeoutMs: 30_000,
      maxResponseBytes: 10 * 1024 * 1024,
      allowHttpHosts: [],
    });
    expect(c.runner.code).toEqual({
      memoryLimitMb: 64,
      timeoutMs: 5_000,
      pythonPath: 'python3',
      bwrapPath: '/usr/bin/bwrap',
      warmPoolSize: 2,
      maxConcurrent: 16,
      jsCompartments: true,
    });
    expect(c.runner.breaker).toEqual({ failureThreshold: 5, cooldownMs: 30_000 });
  });

  it('parses the allow-list and rejects bad values by name', () => {
    expect(
      loadConfig({ GATE_ALLOW_HTTP_HOSTS: '127.0.0.1:8080, [::1]:9000' }).runner.gate
        .allowHttpHosts,
    ).toEqual(['127.0.0.1:8080', '[::1]:9000']);
    try {
      loadConfig({ GATE_ALLOW_HTTP_HOSTS: 'http://x', CODE_MEMORY_LIMIT_MB: 'lots' });
      throw new Error('no error');
    } catch (err) {
      expect(isSwitchyardError(err, 'E_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain('GATE_ALLOW_HTTP_HOSTS=');
      expect((err as Error).message).toContain('CODE_MEMORY_LIMIT_MB=');
    }
    expect(() => loadConfig({ PYTHON_WARM_POOL_SIZE: '-1' })).toThrow(/PYTHON_WARM_POOL_SIZE=/);
    expect(loadConfig({ CODE_JS_COMPARTMENTS: 'false' }).runner.code.jsCompartments).toBe(false);
    expect(() => loadConfig({ CODE_JS_COMPARTMENTS: 'sometimes' })).toThrow(
      /CODE_JS_COMPARTMENTS=.*true or false/,
    );
  });
});
