/**
 * The canary: a secret planted in a connection and in a webhook secret, driven through every
 * flow that touches secrets (create, update, use, fail, rotate, re-encrypt), must never
 * appear in a log line, an error, a stored row (in any form: raw, base64, hex), or an answer
 * of the HTTP server.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { withTenant } from '../../src/db/tenant.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createSecretBox } from '../../src/security/crypto/secret-box.ts';
import { reencryptSecrets } from '../../src/security/keys/reencrypt.ts';
import { rotateKek } from '../../src/security/keys/rotate.ts';
import { kmsUnavailable, type KeyProvider } from '../../src/security/kms/provider.ts';
import { kmsReadinessCheck } from '../../src/security/open-secrets.ts';
import { safeErrorSummary } from '../../src/security/scrub.ts';
import {
  readConnectionSecret,
  storeConnectionSecret,
} from '../../src/security/secrets/connections.ts';
import { readWebhookSecrets, setWebhookSecret } from '../../src/security/secrets/webhooks.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import {
  makeConnection,
  makeWebhookTrigger,
  memoryLocalProvider,
} from '../support/security-fixtures.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const CANARY = `canary-${randomBytes(12).toString('hex')}`;
const WEBHOOK_CANARY = `whsec_${CANARY}-webhook`;

function forms(value: string): string[] {
  const b = Buffer.from(value, 'utf8');
  return [value, b.toString('base64'), b.toString('base64url'), b.toString('hex')];
}
const needles = [...forms(CANARY), ...forms(WEBHOOK_CANARY)];
const leaks = (text: string) => needles.filter((n) => text.includes(n));

/** A provider that can be switched off, as a KMS outage. */
function switchable(inner: KeyProvider): KeyProvider & { down: boolean } {
  const p = {
    down: false,
    kind: inner.kind,
    kekId: inner.kekId,
    guard<T>(fn: () => Promise<T>): Promise<T> {
      return p.down ? Promise.reject(kmsUnavailable('test outage')) : fn();
    },
    wrap: (k: Buffer, c: Parameters<KeyProvider['wrap']>[1]) => p.guard(() => inner.wrap(k, c)),
    unwrap: (w: Parameters<KeyProvider['unwrap']>[0], c: Parameters<KeyProvider['unwrap']>[1]) =>
      p.guard(() => inner.unwrap(w, c)),
    rewrap: (w: Parameters<KeyProvider['rewrap']>[0], c: Parameters<KeyProvider['rewrap']>[1]) =>
      p.guard(() => inner.rewrap(w, c)),
    latestVersion: () => p.guard(() => inner.latestVersion()),
    rotate: () => p.guard(() => inner.rotate()),
    retire: (v: number) => p.guard(() => inner.retire(v)),
  };
  return p;
}

describe('the canary never leaks', () => {
  it('through logs, errors, stored rows and HTTP answers', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = createLogger({ level: 'trace', name: 'canary' }, sink);
    const provider = switchable(memoryLocalProvider());
    // The process-wide scrubber, as in production: createSecretBox installs it on the logger.
    const box = createSecretBox({ provider, logger, keyCacheTtlMs: 0 });
    const errors: unknown[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
        logger.error({ err, what }, `${what} failed`);
      }
    };

    const t = await makeTenant(db.pool);
    const other = await makeTenant(db.pool);
    const tenantId = t.tenantId;
    const conn = await makeConnection(db.pool, tenantId, { baseUrl: 'https://api.example' });
    const otherConn = await makeConnection(db.pool, other.tenantId);

    // create
    await withTenant(db.pool, tenantId, (c) =>
      storeConnectionSecret(c, box, { tenantId, connectionId: conn, secret: { apiKey: CANARY } }),
    );
    const trig = await makeWebhookTrigger(db.pool, box, tenantId, WEBHOOK_CANARY);
    // update (the canary moves to another field; the webhook secret rotates with overlap)
    await withTenant(db.pool, tenantId, (c) =>
      storeConnectionSecret(c, box, {
        tenantId,
        connectionId: conn,
        secret: { username: 'svc', password: CANARY },
      }),
    );
    await withTenant(db.pool, tenantId, (c) =>
      setWebhookSecret(c, box, { tenantId, triggerId: trig, previousValidForMs: 3_600_000 }),
    );
    // use: careless logging of what was decrypted, in every shape
    const secret = await withTenant(db.pool, tenantId, (c) =>
      readConnectionSecret(c, box, { tenantId, connectionId: conn }),
    );
    const hooks = await withTenant(db.pool, tenantId, (c) =>
      readWebhookSecrets(c, box, { tenantId, triggerId: trig }),
    );
    expect(secret?.password).toBe(CANARY);
    expect(hooks.previous).toBe(WEBHOOK_CANARY);
    logger.info({ connection: secret }, 'resolved connection');
    logger.info({ headers: { authorization: `Bearer ${CANARY}` } }, 'outgoing request');
    logger.debug({ secret: CANARY, nested: { password: CANARY, token: CANARY } }, 'by path');
    logger.info(`signing with ${hooks.previous ?? ''} and ${JSON.stringify(secret)}`);
    logger.warn({ b64: Buffer.from(CANARY).toString('base64') }, 'encoded');
    logger.error({ err: new Error(`upstream rejected key ${CANARY}`) }, 'step failed');

    // fail: tampered cipher, wrong tenant, wrong record, provider down
    await db.ownerPool.query(
      `update connections set secret_cipher = (select secret_cipher from connections where id = $1)
        where id = $2`,
      [conn, otherConn],
    );
    await attempt('wrong tenant', () =>
      withTenant(db.pool, other.tenantId, (c) =>
        readConnectionSecret(c, box, { tenantId: other.tenantId, connectionId: otherConn }),
      ),
    );
    const tamperedId = await makeConnection(db.pool, tenantId);
    await withTenant(db.pool, tenantId, (c) =>
      storeConnectionSecret(c, box, { tenantId, connectionId: tamperedId, secret: { k: CANARY } }),
    );
    await db.ownerPool.query(
      // Flip every bit of one byte: setting it to a fixed value left it unchanged when it already
      // held that value (1 run in 256).
      `update connections set secret_cipher = set_byte(secret_cipher, 29, get_byte(secret_cipher, 29) # 255)
        where id = $1`,
      [tamperedId],
    );
    await attempt('tampered', () =>
      withTenant(db.pool, tenantId, (c) =>
        readConnectionSecret(c, box, { tenantId, connectionId: tamperedId }),
      ),
    );
    provider.down = true;
    await attempt('provider down (read)', () =>
      withTenant(db.pool, tenantId, (c) =>
        readConnectionSecret(c, box, { tenantId, connectionId: conn }),
      ),
    );
    await attempt('provider down (rotate)', () =>
      rotateKek({ pool: db.pool, provider, logger }, { newVersion: true }),
    );
    const app = await buildServer({
      pool: db.pool,
      logger,
      readinessChecks: [kmsReadinessCheck(box)],
    });
    const answers: string[] = [];
    try {
      for (const url of ['/livez', '/readyz', '/graphql', `/hooks/${trig}`]) {
        answers.push((await app.inject({ method: 'GET', url })).body);
      }
      provider.down = false;
      // rotate and re-encrypt
      await rotateKek({ pool: db.pool, provider, logger }, { newVersion: true });
      const [reenc] = await reencryptSecrets(
        { pool: db.pool, box, logger },
        { tenantIds: [tenantId] },
      );
      // The altered secret is reported and left alone; its old data key is kept.
      expect(reenc?.unreadable).toEqual([
        { table: 'connections', column: 'secret_cipher', id: tamperedId },
      ]);
      expect(reenc?.destroyedDataKeyVersions).toEqual([]);
      answers.push((await app.inject({ method: 'GET', url: '/readyz' })).body);
    } finally {
      await app.close();
    }
    // still readable after rotation
    const after = await withTenant(db.pool, tenantId, (c) =>
      readConnectionSecret(c, box, { tenantId, connectionId: conn }),
    );
    expect(after?.password).toBe(CANARY);

    // --- scan ---
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual([
      'E_SECRET_DECRYPT_FAILED',
      'E_SECRET_DECRYPT_FAILED',
      'E_KMS_UNAVAILABLE',
      'E_KMS_UNAVAILABLE',
    ]);
    for (const err of errors) {
      const e = err as Error & { details?: unknown };
      expect(leaks(`${e.message}\n${e.stack ?? ''}\n${JSON.stringify(e.details ?? {})}`)).toEqual(
        [],
      );
      expect(leaks(JSON.stringify(safeErrorSummary(err)))).toEqual([]);
    }
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.join('')).toContain('[redacted]');
    expect(lines.join('')).toContain('[secret]');
    expect(lines.flatMap((l) => leaks(l))).toEqual([]);
    expect(answers.flatMap((a) => leaks(a))).toEqual([]);

    const tables = await db.ownerPool.query<{ table_name: string }>(
      `select table_name from information_schema.tables
        where table_schema = 'public' and table_type = 'BASE TABLE'`,
    );
    let scanned = 0;
    for (const { table_name } of tables.rows) {
      const rows = await db.ownerPool.query<{ j: string }>(
        `select to_jsonb(t)::text as j from ${table_name} t`,
      );
      for (const r of rows.rows) {
        scanned++;
        expect({ table: table_name, leaks: leaks(r.j) }).toEqual({ table: table_name, leaks: [] });
      }
    }
    expect(scanned).toBeGreaterThan(20);
    // The cipher columns hold no plaintext bytes either.
    const ciphers = await db.ownerPool.query<{ c: Buffer }>(
      `select secret_cipher as c from connections where secret_cipher is not null
       union all select webhook_secret_cipher from triggers where webhook_secret_cipher is not null
       union all select previous_webhook_secret_cipher from triggers
        where previous_webhook_secret_cipher is not null`,
    );
    for (const { c } of ciphers.rows) expect(c.includes(Buffer.from(CANARY))).toBe(false);
  });
});
