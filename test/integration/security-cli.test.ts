/**
 * `switchyard keys status|rotate|reencrypt|retire` end to end, as an operator runs them
 * against an external database with a master key file.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.ts';
import { createSecretBox } from '../../src/security/crypto/secret-box.ts';
import { fileBackedLocalProvider } from '../../src/security/kms/create-provider.ts';
import { readMasterKeyFile } from '../../src/security/kms/master-keys.ts';
import { createScrubber } from '../../src/security/scrub.ts';
import {
  readConnectionSecret,
  storeConnectionSecret,
} from '../../src/security/secrets/connections.ts';
import { runCli, cliEnvFor } from '../support/cli.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { makeConnection } from '../support/security-fixtures.ts';

let db: TestDatabase;
let dir: string;
let keyFile: string;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(os.tmpdir(), 'sy-keys-cli-'));
  keyFile = path.join(dir, 'master.key');
  await writeFile(keyFile, `1:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  env = cliEnvFor(db, {
    SWITCHYARD_MASTER_KEY_FILE: keyFile,
  });
});
afterAll(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

const SECRET = `cli-secret-${randomBytes(8).toString('hex')}`;

describe('switchyard keys', () => {
  it('rotates, re-encrypts and retires; the secret stays readable and is never printed', async () => {
    const box = async () =>
      createSecretBox({
        provider: fileBackedLocalProvider(keyFile, await readMasterKeyFile(keyFile)),
        logger: testLogger,
        scrubber: createScrubber(),
      });
    const t = await makeTenant(db.pool);
    const conn = await makeConnection(db.pool, t.tenantId);
    const b1 = await box();
    await withTenant(db.pool, t.tenantId, (c) =>
      storeConnectionSecret(c, b1, {
        tenantId: t.tenantId,
        connectionId: conn,
        secret: { apiKey: SECRET },
      }),
    );
    const outputs: string[] = [];
    const run = async (args: string[]) => {
      const r = await runCli(['keys', ...args, '--json'], env);
      outputs.push(r.stdout, r.stderr);
      expect({ args, code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({
        args,
        code: 0,
        stderr: '',
      });
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };

    const refused = await runCli(['keys', 'retire', '--version', '1'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/E_CONFLICT: 1 data keys are still wrapped/);

    expect(await run(['status'])).toMatchObject({ provider: 'local', latestVersion: 1 });
    expect(await run(['rotate'])).toMatchObject({ previousVersion: 1, version: 2, dataKeys: 1 });
    expect((await readMasterKeyFile(keyFile)).latest).toBe(2);
    expect(await run(['reencrypt', '--tenant', t.tenantId])).toMatchObject({
      tenants: [{ tenantId: t.tenantId, reencrypted: 1, destroyedDataKeyVersions: [1] }],
    });
    expect(await run(['retire', '--version', '1'])).toMatchObject({ retired: [1] });
    expect([...(await readMasterKeyFile(keyFile)).keys.keys()]).toEqual([2]);

    const fresh = await box();
    const read = await withTenant(db.pool, t.tenantId, (c) =>
      readConnectionSecret(c, fresh, { tenantId: t.tenantId, connectionId: conn }),
    );
    expect(read).toEqual({ apiKey: SECRET });
    const keyText = await readFile(keyFile, 'utf8');
    const keyMaterial = keyText.split(':')[1]!.trim();
    for (const out of outputs) {
      expect(out).not.toContain(SECRET);
      expect(out).not.toContain(keyMaterial);
    }
    const usage = await runCli(['keys', 'retire'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--version N/);
  });
});
