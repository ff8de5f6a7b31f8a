import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withSystem, withTenant } from '../../src/db/tenant.ts';
import type { ConnectionId, TenantId, TriggerId } from '../../src/model/ids.ts';
import { createSecretBox, type SecretBox } from '../../src/security/crypto/secret-box.ts';
import { reencryptSecrets } from '../../src/security/keys/reencrypt.ts';
import { keyStatus, retireKekVersions, rotateKek } from '../../src/security/keys/rotate.ts';
import { createVaultProvider } from '../../src/security/kms/vault.ts';
import { createScrubber } from '../../src/security/scrub.ts';
import {
  readConnectionSecret,
  storeConnectionSecret,
} from '../../src/security/secrets/connections.ts';
import {
  readWebhookSecrets,
  sealNewWebhookSecret,
  setWebhookSecret,
} from '../../src/security/secrets/webhooks.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import {
  localRing,
  makeConnection,
  makeWebhookTrigger,
  memoryLocalProvider,
  testSecretBox,
} from '../support/security-fixtures.ts';
import { startFakeVault, type FakeVault } from '../support/security-fake-vault.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const storeConn = (
  box: SecretBox,
  tenantId: TenantId,
  connectionId: ConnectionId,
  secret: object,
) =>
  withTenant(db.pool, tenantId, (c) =>
    storeConnectionSecret(c, box, { tenantId, connectionId, secret: { ...secret } }),
  );
const readConn = (box: SecretBox, tenantId: TenantId, connectionId: ConnectionId) =>
  withTenant(db.pool, tenantId, (c) => readConnectionSecret(c, box, { tenantId, connectionId }));
const copyCipher = async (from: ConnectionId, to: ConnectionId) =>
  db.ownerPool.query(
    `update connections set secret_cipher = (select secret_cipher from connections where id = $1) where id = $2`,
    [from, to],
  );

describe('connection and webhook secrets through the envelope layer', () => {
  it('stores only ciphertext, under a per-tenant data key made on first use (audited)', async () => {
    const box = testSecretBox();
    const t = await makeTenant(db.pool);
    const conn = await makeConnection(db.pool, t.tenantId);
    await storeConn(box, t.tenantId, conn, { apiKey: 'sk_live_round_trip_value' });
    expect(await readConn(box, t.tenantId, conn)).toEqual({ apiKey: 'sk_live_round_trip_value' });
    const row = await db.ownerPool.query<{ secret_cipher: Buffer }>(
      'select secret_cipher from connections where id = $1',
      [conn],
    );
    expect(row.rows[0]!.secret_cipher.toString('latin1')).not.toContain('sk_live_round_trip_value');
    const keys = await db.ownerPool.query<{ version: number; status: string; kek_id: string }>(
      'select version, status, kek_id from tenant_data_keys where tenant_id = $1',
      [t.tenantId],
    );
    expect(keys.rows).toEqual([{ version: 1, status: 'active', kek_id: 'local' }]);
    const audit = await db.ownerPool.query(
      `select 1 from audit_events where tenant_id = $1 and action = 'data_key.created'`,
      [t.tenantId],
    );
    expect(audit.rowCount).toBe(1);
    // A cold cache (another process) unwraps through the provider and reads the same.
    expect(
      await readConn(
        createSecretBox({ provider: box.provider, logger: testLogger, scrubber: createScrubber() }),
        t.tenantId,
        conn,
      ),
    ).toEqual({
      apiKey: 'sk_live_round_trip_value',
    });
  });

  it('fails closed when a ciphertext is moved to another record, column or tenant', async () => {
    const box = testSecretBox();
    const a = await makeTenant(db.pool);
    const b = await makeTenant(db.pool);
    const a1 = await makeConnection(db.pool, a.tenantId);
    const a2 = await makeConnection(db.pool, a.tenantId);
    const b1 = await makeConnection(db.pool, b.tenantId);
    await storeConn(box, a.tenantId, a1, { password: 'moved-secret-value' });
    await storeConn(box, b.tenantId, b1, { password: 'other-tenant-value' });
    await copyCipher(a1, a2);
    await expect(readConn(box, a.tenantId, a2)).rejects.toMatchObject({
      code: 'E_SECRET_DECRYPT_FAILED',
    });
    await copyCipher(a1, b1);
    for (const reader of [box, testSecretBox(box.provider)]) {
      const err = await readConn(reader, b.tenantId, b1).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_SECRET_DECRYPT_FAILED', retryable: false });
      expect(String((err as Error).message)).not.toContain('moved-secret-value');
    }
    const trig = await makeWebhookTrigger(db.pool, box, a.tenantId, 'whsec_current_secret_value');
    await db.ownerPool.query(
      `update triggers set previous_webhook_secret_cipher = webhook_secret_cipher,
              previous_secret_expires_at = now() + interval '1 hour' where id = $1`,
      [trig],
    );
    await expect(
      withTenant(db.pool, a.tenantId, (c) =>
        readWebhookSecrets(c, box, { tenantId: a.tenantId, triggerId: trig }),
      ),
    ).rejects.toMatchObject({ code: 'E_SECRET_DECRYPT_FAILED' });
  });

  it('keeps data keys tenant-private; the system scope may read wrapped keys only', async () => {
    const box = testSecretBox();
    const a = await makeTenant(db.pool);
    const b = await makeTenant(db.pool);
    await storeConn(box, a.tenantId, await makeConnection(db.pool, a.tenantId), {
      k: 'tenant-a-secret',
    });
    const seen = await withTenant(db.pool, b.tenantId, (c) =>
      c.query('select 1 from tenant_data_keys where tenant_id = $1', [a.tenantId]),
    );
    expect(seen.rowCount).toBe(0);
    const updated = await withSystem(db.pool, (c) =>
      c.query(`update tenant_data_keys set status = 'retired' where tenant_id = $1`, [a.tenantId]),
    );
    expect(updated.rowCount).toBe(0);
  });

  it('rotates a webhook secret with an overlap window for the previous one', async () => {
    const box = testSecretBox();
    const t = await makeTenant(db.pool);
    const trig = await makeWebhookTrigger(db.pool, box, t.tenantId);
    const read = (now?: Date) =>
      withTenant(db.pool, t.tenantId, (c) =>
        readWebhookSecrets(c, box, {
          tenantId: t.tenantId,
          triggerId: trig,
          ...(now ? { now } : {}),
        }),
      );
    const first = await read();
    expect(first.current).toMatch(/^whsec_/);
    expect(first.previous).toBeNull();
    const now = new Date();
    const rotated = await withTenant(db.pool, t.tenantId, (c) =>
      setWebhookSecret(c, box, {
        tenantId: t.tenantId,
        triggerId: trig,
        previousValidForMs: 60_000,
        now,
      }),
    );
    expect(await read(now)).toEqual({ current: rotated.secret, previous: first.current });
    expect((await read(new Date(now.getTime() + 61_000))).previous).toBeNull();
    await withTenant(db.pool, t.tenantId, (c) =>
      setWebhookSecret(c, box, {
        tenantId: t.tenantId,
        triggerId: trig,
        secret: 'whsec_set_by_the_user_0123',
      }),
    );
    expect(await read()).toEqual({ current: 'whsec_set_by_the_user_0123', previous: null });
  });

  it('seals a webhook secret for a trigger before its row exists', async () => {
    const box = testSecretBox();
    const t = await makeTenant(db.pool);
    const triggerId = randomUUID() as TriggerId;
    const stored = await withTenant(db.pool, t.tenantId, async (c) => {
      const wf = await c.query<{ id: string }>(
        `insert into workflows (tenant_id, name) values ($1, 'W') returning id`,
        [t.tenantId],
      );
      const sealed = await sealNewWebhookSecret(c, box, { tenantId: t.tenantId, triggerId });
      await c.query(
        `insert into triggers (tenant_id, id, workflow_id, kind, webhook_secret_cipher)
         values ($1, $2, $3, 'webhook', $4)`,
        [t.tenantId, triggerId, wf.rows[0]!.id, sealed.cipher],
      );
      return sealed.secret;
    });
    const read = await withTenant(db.pool, t.tenantId, (c) =>
      readWebhookSecrets(c, box, { tenantId: t.tenantId, triggerId }),
    );
    expect(read).toEqual({ current: stored, previous: null });
  });
});

describe("re-encryption between a reader's statements", () => {
  // A reader in READ COMMITTED reads a ciphertext, then (before it opens it) the whole
  // re-encryption runs and commits: the ciphertext moves to the new data key and the old key
  // is destroyed. The reader still holds the old ciphertext and must still open it.
  const racingReader = (
    c: Pick<pg.PoolClient, 'query'>,
    reencrypt: () => Promise<void>,
  ): Pick<pg.PoolClient, 'query'> => {
    let first = true;
    return {
      query: (async (...args: Parameters<pg.PoolClient['query']>) => {
        const res = await (c.query as (...a: unknown[]) => Promise<unknown>)(...args);
        if (first) {
          first = false;
          await reencrypt();
        }
        return res;
      }) as pg.PoolClient['query'],
    };
  };

  it('connection and webhook secrets stay readable; the old data key is destroyed meanwhile', async () => {
    const box = createSecretBox({
      provider: memoryLocalProvider(localRing(1)),
      logger: testLogger,
      scrubber: createScrubber(),
      keyCacheTtlMs: 0,
    });
    const t = await makeTenant(db.pool);
    const conn = await makeConnection(db.pool, t.tenantId);
    await storeConn(box, t.tenantId, conn, { v: 'value-read-across-a-reencryption' });
    const trig = await makeWebhookTrigger(db.pool, box, t.tenantId);
    const destroyed: number[][] = [];
    const reencrypt = async () => {
      const [r] = await reencryptSecrets(
        { pool: db.pool, box, logger: testLogger },
        { tenantIds: [t.tenantId] },
      );
      destroyed.push(r!.destroyedDataKeyVersions);
    };

    const secret = await withTenant(db.pool, t.tenantId, (c) =>
      readConnectionSecret(racingReader(c, reencrypt), box, {
        tenantId: t.tenantId,
        connectionId: conn,
      }),
    );
    expect(secret).toEqual({ v: 'value-read-across-a-reencryption' });
    const hooks = await withTenant(db.pool, t.tenantId, (c) =>
      readWebhookSecrets(racingReader(c, reencrypt), box, {
        tenantId: t.tenantId,
        triggerId: trig,
      }),
    );
    expect(hooks.current).toMatch(/^whsec_/);
    // Each pass did destroy the key the reader's ciphertext named.
    expect(destroyed).toEqual([[1], [2]]);
  });
});

describe('rotation', () => {
  // Its own database: rotation re-wraps every tenant's keys, and the other tests' keys were
  // wrapped by other (throwaway) master keys under the same KEK id.
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });
  const storeConn = (
    box: SecretBox,
    tenantId: TenantId,
    connectionId: ConnectionId,
    secret: object,
  ) =>
    withTenant(db.pool, tenantId, (c) =>
      storeConnectionSecret(c, box, { tenantId, connectionId, secret: { ...secret } }),
    );
  const readConn = (box: SecretBox, tenantId: TenantId, connectionId: ConnectionId) =>
    withTenant(db.pool, tenantId, (c) => readConnectionSecret(c, box, { tenantId, connectionId }));

  it('re-wraps and re-encrypts under load; every secret stays readable; old KEK retires', async () => {
    const ring = localRing(1);
    const provider = memoryLocalProvider(ring);
    const box = createSecretBox({
      provider,
      logger: testLogger,
      scrubber: createScrubber(),
      keyCacheTtlMs: 0,
    });
    const tenants: { tenantId: TenantId; conns: ConnectionId[]; trig: TriggerId }[] = [];
    const expected = new Map<string, string>();
    for (let i = 0; i < 3; i++) {
      const t = await makeTenant(db.pool);
      const conns: ConnectionId[] = [];
      for (let j = 0; j < 4; j++) {
        const id = await makeConnection(db.pool, t.tenantId);
        const v = `secret-${i}-${j}-${randomBytes(4).toString('hex')}`;
        await storeConn(box, t.tenantId, id, { v });
        expected.set(id, v);
        conns.push(id);
      }
      tenants.push({
        tenantId: t.tenantId,
        conns,
        trig: await makeWebhookTrigger(db.pool, box, t.tenantId),
      });
    }
    const deps = { pool: db.pool, provider, logger: testLogger };
    await expect(retireKekVersions(deps, { upToVersion: 1 })).rejects.toMatchObject({
      code: 'E_CONFLICT',
    });

    let stop = false;
    const errors: unknown[] = [];
    let reads = 0;
    let writes = 0;
    const load = async (worker: number) => {
      while (!stop) {
        const t = tenants[(reads + worker) % tenants.length]!;
        const id = t.conns[(reads + worker) % t.conns.length]!;
        try {
          if (worker === 0) {
            const v = `rewritten-${randomBytes(4).toString('hex')}`;
            expected.set(id, v);
            await storeConn(box, t.tenantId, id, { v });
            writes++;
          } else {
            const got = await readConn(box, t.tenantId, id);
            expect(typeof got?.v).toBe('string');
            await withTenant(db.pool, t.tenantId, (c) =>
              readWebhookSecrets(c, box, { tenantId: t.tenantId, triggerId: t.trig }),
            );
          }
          reads++;
        } catch (err) {
          errors.push(err);
        }
      }
    };
    const workers = [0, 1, 2, 3].map((w) => load(w));
    await new Promise((r) => setTimeout(r, 100));
    const rotated = await rotateKek(deps, { newVersion: true });
    expect(rotated).toMatchObject({ previousVersion: 1, version: 2, tenants: 3, dataKeys: 3 });
    const reenc = await reencryptSecrets(
      { pool: db.pool, box, logger: testLogger },
      {
        tenantIds: tenants.map((t) => t.tenantId),
      },
    );
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await Promise.all(workers);
    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(10);
    expect(writes).toBeGreaterThan(0);
    for (const r of reenc) {
      expect(r.newDataKeyVersion).toBe(2);
      expect(r.destroyedDataKeyVersions).toEqual([1]);
    }

    const status = await keyStatus(deps);
    expect(status.usage.filter((u) => u.kekVersion === 1)).toEqual([]);
    await retireKekVersions(deps, { upToVersion: 1 });
    expect([...ring.keys.keys()]).toEqual([2]);

    // A fresh process (cold cache) reads every secret with only KEK v2 left.
    const fresh = createSecretBox({ provider, logger: testLogger, scrubber: createScrubber() });
    for (const t of tenants) {
      for (const id of t.conns)
        expect((await readConn(fresh, t.tenantId, id))?.v).toBe(expected.get(id));
      const w = await withTenant(db.pool, t.tenantId, (c) =>
        readWebhookSecrets(c, fresh, { tenantId: t.tenantId, triggerId: t.trig }),
      );
      expect(w.current).toMatch(/^whsec_/);
      const actions = await db.ownerPool.query<{ action: string }>(
        `select action from audit_events where tenant_id = $1 and action like '%key%' or (tenant_id = $1 and action = 'secrets.reencrypted') order by seq`,
        [t.tenantId],
      );
      expect(actions.rows.map((r) => r.action)).toEqual([
        'data_key.created',
        'data_key.rewrapped',
        'data_key.created',
        'data_key.rotated',
        'secrets.reencrypted',
      ]);
    }
    const kek = await db.ownerPool.query<{ version: number; status: string }>(
      'select version, status from kek_versions order by version',
    );
    expect(kek.rows).toEqual([
      { version: 1, status: 'retired' },
      { version: 2, status: 'active' },
    ]);
  });
});

describe('secrets with the Vault Transit provider', () => {
  let vault: FakeVault;
  beforeAll(async () => {
    vault = await startFakeVault();
    vault.createKey('switchyard');
  });
  afterAll(async () => {
    await vault.close();
  });

  it('stores, rotates and re-wraps through Transit; a sealed Vault is a retryable error', async () => {
    const provider = createVaultProvider({
      address: vault.address,
      token: vault.token,
      transitMount: 'transit',
      transitKey: 'switchyard',
      timeoutMs: 2_000,
    });
    const box = createSecretBox({
      provider,
      logger: testLogger,
      scrubber: createScrubber(),
      keyCacheTtlMs: 0,
    });
    const t = await makeTenant(db.pool);
    const conn = await makeConnection(db.pool, t.tenantId);
    await storeConn(box, t.tenantId, conn, { token: 'vault-backed-secret' });
    expect(await readConn(box, t.tenantId, conn)).toEqual({ token: 'vault-backed-secret' });
    vault.sealed = true;
    const err = await readConn(box, t.tenantId, conn).catch((e: unknown) => e);
    vault.sealed = false;
    expect(err).toMatchObject({ code: 'E_KMS_UNAVAILABLE', retryable: true, httpStatus: 503 });
    expect(String(err)).not.toContain('vault-backed-secret');
    const r = await rotateKek(
      { pool: db.pool, provider, logger: testLogger },
      { newVersion: true },
    );
    expect(r).toMatchObject({ kekId: 'vault:transit/switchyard', version: 2, dataKeys: 1 });
    await retireKekVersions({ pool: db.pool, provider, logger: testLogger }, { upToVersion: 1 });
    expect(await readConn(box, t.tenantId, conn)).toEqual({ token: 'vault-backed-secret' });
  });
});
