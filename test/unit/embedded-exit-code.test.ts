import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const embedded = path.resolve(import.meta.dirname, '../../src/db/embedded.ts');

describe('embedded PostgreSQL package hooks', () => {
  it('leave the process exit code alone (a failing run must not exit 0)', () => {
    const script = `await import(${JSON.stringify(embedded)}); process.exitCode = 3;`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 3, stderr: '' });
  });
});
