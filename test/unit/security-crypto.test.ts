import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  openField,
  readKeyId,
  sealField,
  type FieldLocation,
} from '../../src/security/crypto/aead.ts';
import { createKeyCache } from '../../src/security/crypto/key-cache.ts';
import { createKeyProvider } from '../../src/security/kms/create-provider.ts';
import { createLocalProvider } from '../../src/security/kms/local.ts';
import { parseMasterKeys, readMasterKeyFile } from '../../src/security/kms/master-keys.ts';
import { createScrubber, scrubValue } from '../../src/security/scrub.ts';
import { isSwitchyardError } from '../../src/model/errors.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { testLogger } from '../support/db.ts';

const loc: FieldLocation = {
  tenantId: randomUUID(),
  table: 'connections',
  recordId: randomUUID(),
  field: 'secret_cipher',
};
const key = randomBytes(32);
const keyId = randomUUID();

function expectDecryptFailure(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    expect(isSwitchyardError(err, 'E_SECRET_DECRYPT_FAILED')).toBe(true);
    expect((err as Error).message).not.toContain('hunter2');
    return;
  }
  throw new Error('decryption unexpectedly succeeded');
}

describe('field encryption (AES-256-GCM, bound to its location)', () => {
  const plaintext = Buffer.from('{"apiKey":"hunter2-hunter2"}');
  const sealed = sealField(key, keyId, loc, plaintext);

  it('round-trips and names its data key in the header', () => {
    expect(openField(key, loc, sealed).equals(plaintext)).toBe(true);
    expect(readKeyId(sealed)).toBe(keyId);
    expect(sealed[0]).toBe(1);
    expect(sealed.includes(plaintext)).toBe(false);
  });

  it('uses a fresh random nonce each time', () => {
    const again = sealField(key, keyId, loc, plaintext);
    expect(again.subarray(17, 29).equals(sealed.subarray(17, 29))).toBe(false);
    expect(again.equals(sealed)).toBe(false);
  });

  it('fails closed on a flipped bit anywhere: header, nonce, ciphertext, tag', () => {
    const regions = {
      version: 0,
      keyId: 5,
      nonce: 20,
      ciphertext: 31,
      tag: sealed.length - 3,
    };
    for (const [, offset] of Object.entries(regions)) {
      for (const bit of [0, 7]) {
        const bad = Buffer.from(sealed);
        bad[offset]! ^= 1 << bit;
        expectDecryptFailure(() => openField(key, loc, bad));
      }
    }
    expectDecryptFailure(() => openField(key, loc, sealed.subarray(0, sealed.length - 1)));
    expectDecryptFailure(() => openField(key, loc, Buffer.alloc(10)));
  });

  it('fails when moved to another tenant, table, record or field, or under another key', () => {
    for (const moved of [
      { ...loc, tenantId: randomUUID() },
      { ...loc, table: 'triggers' },
      { ...loc, recordId: randomUUID() },
      { ...loc, field: 'webhook_secret_cipher' },
    ]) {
      expectDecryptFailure(() => openField(key, moved, sealed));
    }
    expectDecryptFailure(() => openField(randomBytes(32), loc, sealed));
  });

  it('does not confuse tuples that concatenate alike', () => {
    const a = sealField(key, keyId, { ...loc, table: 'ab', field: 'c' }, plaintext);
    expectDecryptFailure(() => openField(key, { ...loc, table: 'a', field: 'bc' }, a));
  });
});

describe('local key provider', () => {
  const ring = parseMasterKeys(
    `2:${randomBytes(32).toString('base64')},1:${randomBytes(32).toString('base64')}`,
    'test',
  );
  const provider = createLocalProvider({ ring });
  const ctx = { tenantId: randomUUID(), dataKeyId: randomUUID() };

  it('wraps under the latest version and unwraps only with the same context', async () => {
    const dk = randomBytes(32);
    const w = await provider.wrap(dk, ctx);
    expect(w).toMatchObject({ kekId: 'local', kekVersion: 2 });
    expect(w.wrapped.includes(dk)).toBe(false);
    expect((await provider.unwrap(w, ctx)).equals(dk)).toBe(true);
    await expect(provider.unwrap(w, { ...ctx, tenantId: randomUUID() })).rejects.toMatchObject({
      code: 'E_SECRET_DECRYPT_FAILED',
    });
    await expect(provider.unwrap(w, { ...ctx, dataKeyId: randomUUID() })).rejects.toMatchObject({
      code: 'E_SECRET_DECRYPT_FAILED',
    });
    const flipped = Buffer.from(w.wrapped);
    flipped[flipped.length - 1]! ^= 1;
    await expect(provider.unwrap({ ...w, wrapped: flipped }, ctx)).rejects.toMatchObject({
      code: 'E_SECRET_DECRYPT_FAILED',
    });
  });

  it('refuses a KEK version it does not have, without crashing', async () => {
    const only1 = createLocalProvider({
      ring: { keys: new Map([[1, ring.keys.get(1)!]]), latest: 1 },
    });
    const w = await provider.wrap(randomBytes(32), ctx);
    await expect(only1.unwrap(w, ctx)).rejects.toMatchObject({ code: 'E_KMS_REJECTED' });
  });

  it('parses master keys and rejects bad ones without echoing them', () => {
    expect(parseMasterKeys(randomBytes(32).toString('base64'), 'x').latest).toBe(1);
    const short = randomBytes(16).toString('base64');
    try {
      parseMasterKeys(short, 'SWITCHYARD_MASTER_KEY');
      throw new Error('accepted');
    } catch (err) {
      expect(isSwitchyardError(err, 'E_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).not.toContain(short);
    }
  });
});

describe('embedded master key file', () => {
  let dir: string;
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is made on first start with mode 0600, reused after, rotated and retired in place', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sy-keys-'));
    const logs: string[] = [];
    const logger = createLogger(
      { level: 'trace', name: 'keyfile' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(chunk.toString());
          done();
        },
      }),
    );
    const p1 = await createKeyProvider(
      { provider: 'local', masterKey: undefined, masterKeyFile: undefined },
      { dataDir: dir, embeddedDatabase: true, logger },
    );
    const file = path.join(dir, 'master.key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const keyB64 = (await readFile(file, 'utf8')).split(':')[1]!.trim();
    // Printed nowhere: the log says where the file is, never what is in it.
    expect(logs.join('')).toContain('master.key');
    expect(logs.join('')).not.toContain(keyB64);
    expect(logs.join('')).not.toContain(Buffer.from(keyB64, 'base64').toString('hex'));
    const ctx = { tenantId: randomUUID(), dataKeyId: randomUUID() };
    const dk = randomBytes(32);
    const w1 = await p1.wrap(dk, ctx);
    const p2 = await createKeyProvider(
      { provider: 'local', masterKey: undefined, masterKeyFile: undefined },
      { dataDir: dir, embeddedDatabase: true, logger: testLogger },
    );
    expect((await p2.unwrap(w1, ctx)).equals(dk)).toBe(true);
    expect(await p2.rotate()).toBe(2);
    expect((await readMasterKeyFile(file)).latest).toBe(2);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const w2 = await p2.rewrap(w1, ctx);
    expect(w2.kekVersion).toBe(2);
    await p2.retire(1);
    expect([...(await readMasterKeyFile(file)).keys.keys()]).toEqual([2]);
    await expect(p2.unwrap(w1, ctx)).rejects.toMatchObject({ code: 'E_KMS_REJECTED' });
    expect((await p2.unwrap(w2, ctx)).equals(dk)).toBe(true);
  });

  it('is not silently regenerated when lost while the database holds keys wrapped by it', async () => {
    const lostDir = path.join(dir, 'lost');
    await mkdir(lostDir);
    const err = await createKeyProvider(
      { provider: 'local', masterKey: undefined, masterKeyFile: undefined },
      {
        dataDir: lostDir,
        embeddedDatabase: true,
        logger: testLogger,
        databaseHasLocalKeys: () => Promise.resolve(true),
      },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_CONFIG_INVALID' });
    expect((err as Error).message).toMatch(/Restore master.key/);
    await expect(stat(path.join(lostDir, 'master.key'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('is not generated for an external database, and a group-readable file is refused', async () => {
    await expect(
      createKeyProvider(
        { provider: 'local', masterKey: undefined, masterKeyFile: undefined },
        { dataDir: dir, embeddedDatabase: false, logger: testLogger },
      ),
    ).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    const loose = path.join(dir, 'loose.key');
    await writeFile(loose, randomBytes(32).toString('base64'));
    await chmod(loose, 0o644);
    await expect(readMasterKeyFile(loose)).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
  });
});

describe('key cache and scrubber', () => {
  it('expires entries, evicts the least recently used and zero-fills them', () => {
    let now = 0;
    const cache = createKeyCache({ ttlMs: 1000, maxEntries: 2, clock: { now: () => now } });
    const k1 = randomBytes(32);
    cache.set('t', 'a', k1);
    cache.set('t', 'b', randomBytes(32));
    expect(cache.get('t', 'a')?.equals(k1)).toBe(true);
    cache.set('t', 'c', randomBytes(32)); // evicts b (a was used more recently)
    expect(cache.get('t', 'b')).toBeUndefined();
    now = 1001;
    expect(cache.get('t', 'a')).toBeUndefined();
    expect(cache.size()).toBe(1);
  });

  it('scrubs known secrets in raw, base64, hex and JSON-escaped forms', () => {
    const s = createScrubber();
    const secret = 'p@ss"word\\with-quotes';
    s.add(secret);
    s.add('abc'); // too short to scrub usefully: ignored
    const b64 = Buffer.from(secret).toString('base64');
    const hex = Buffer.from(secret).toString('hex');
    const line = JSON.stringify({ msg: `x ${secret} y`, b64, hex });
    const out = s.scrub(line);
    expect(out).not.toContain(b64);
    expect(out).not.toContain(hex);
    expect(s.contains(out)).toBe(false);
    expect(s.contains(line)).toBe(true);
    expect(s.scrub('abc def')).toBe('abc def');
  });

  it('scrubs URL-encoded forms, and every string of a value without breaking it', () => {
    const s = createScrubber();
    const secret = 'k/7+z=9&x y"}';
    s.add(secret);
    const url = `/echo?api_key=${new URLSearchParams({ v: secret }).toString().slice(2)}`;
    expect(s.scrub(url)).toBe('/echo?api_key=[secret]');
    expect(s.scrub(`/p/${encodeURIComponent(secret)}`)).toBe('/p/[secret]');
    const value = { [secret]: [secret, 1, null, true, { deep: `Bearer ${secret}` }] };
    expect(scrubValue(value, (t) => s.scrub(t))).toEqual({
      '[secret]': ['[secret]', 1, null, true, { deep: 'Bearer [secret]' }],
    });
  });
});
