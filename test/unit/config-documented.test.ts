import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { apiSchema } from '../../src/config/api.ts';
import { databaseSchema } from '../../src/config/database.ts';
import { engineSchema } from '../../src/config/engine.ts';
import { logSchema } from '../../src/config/log.ts';
import { retentionSchema } from '../../src/config/retention.ts';
import { runnerSchema } from '../../src/config/runner.ts';
import { securitySchema } from '../../src/config/security.ts';
import { serverSchema } from '../../src/config/server.ts';

const schemas: Array<z.ZodObject> = [
  serverSchema,
  databaseSchema,
  logSchema,
  engineSchema,
  runnerSchema,
  securitySchema,
  apiSchema,
  retentionSchema,
];

describe('configuration documentation', () => {
  it('lists every environment variable in the README table', async () => {
    const readme = await readFile(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const names = schemas.flatMap((s) => Object.keys(s.shape));
    const missing = names.filter((n) => !readme.includes(`| \`${n}\` |`));
    expect(missing).toEqual([]);
  });
});
