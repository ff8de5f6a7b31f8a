import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorCodes } from '../../src/model/errors.ts';

describe('error-code registry', () => {
  it('documents every code in docs/api.md with its HTTP status', async () => {
    const doc = await readFile(path.resolve(import.meta.dirname, '../../docs/api.md'), 'utf8');
    const undocumented = Object.entries(errorCodes)
      .filter(
        ([code, spec]) =>
          !new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${spec.httpStatus}\\s*\\|`).test(doc),
      )
      .map(([code]) => code);
    expect(undocumented).toEqual([]);
  });

  it('uses the E_UPPER_SNAKE form and a message for every code', () => {
    for (const [code, spec] of Object.entries(errorCodes)) {
      expect(code).toMatch(/^E_[A-Z0-9_]+$/);
      expect(spec.message.length).toBeGreaterThan(5);
    }
  });
});
