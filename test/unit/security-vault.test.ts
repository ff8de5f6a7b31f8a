import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVaultProvider } from '../../src/security/kms/vault.ts';
import { startFakeVault, type FakeVault } from '../support/security-fake-vault.ts';
import { freePort } from '../support/free-port.ts';

let vault: FakeVault;
beforeAll(async () => {
  vault = await startFakeVault();
  vault.createKey('switchyard', { derived: true });
  vault.createKey('plain', { derived: false });
});
afterAll(async () => {
  await vault.close();
});

const providerFor = (over: Partial<Parameters<typeof createVaultProvider>[0]> = {}) =>
  createVaultProvider({
    address: vault.address,
    token: vault.token,
    transitMount: 'transit',
    transitKey: 'switchyard',
    timeoutMs: 2_000,
    ...over,
  });

describe('Vault Transit key provider (against a local fake Transit server)', () => {
  const ctx = { tenantId: randomUUID(), dataKeyId: randomUUID() };

  it('wraps with context, unwraps, and the context binds the key', async () => {
    const p = providerFor();
    expect(p.kekId).toBe('vault:transit/switchyard');
    const dk = randomBytes(32);
    const w = await p.wrap(dk, ctx);
    expect(w.wrapped.toString()).toMatch(/^vault:v1:/);
    expect(w.kekVersion).toBe(1);
    const enc = vault.requests.at(-1)!;
    expect(enc.path).toBe('/v1/transit/encrypt/switchyard');
    expect(typeof enc.body.context).toBe('string');
    expect((await p.unwrap(w, ctx)).equals(dk)).toBe(true);
    await expect(p.unwrap(w, { ...ctx, tenantId: randomUUID() })).rejects.toMatchObject({
      code: 'E_SECRET_DECRYPT_FAILED',
    });
  });

  it('rotates, rewraps under the new version, and retires old versions', async () => {
    const p = providerFor();
    const dk = randomBytes(32);
    const w1 = await p.wrap(dk, ctx);
    const v = await p.rotate();
    expect(v).toBe(w1.kekVersion + 1);
    expect(await p.latestVersion()).toBe(v);
    const w2 = await p.rewrap(w1, ctx);
    expect(w2.kekVersion).toBe(v);
    expect(vault.requests.at(-1)!.path).toBe('/v1/transit/rewrap/switchyard');
    await p.retire(v - 1);
    expect(vault.keys.get('switchyard')!.minDecryptionVersion).toBe(v);
    await expect(p.unwrap(w1, ctx)).rejects.toMatchObject({ code: 'E_KMS_REJECTED' });
    expect((await p.unwrap(w2, ctx)).equals(dk)).toBe(true);
    await expect(p.retire(v)).rejects.toMatchObject({ code: 'E_KMS_REJECTED' });
  });

  it('maps Vault error answers: sealed/5xx/429 retryable, 403/404 rejected, never plaintext', async () => {
    const p = providerFor();
    const dk = randomBytes(32);
    const w = await p.wrap(dk, ctx);
    vault.sealed = true;
    const sealedErr = await p.unwrap(w, ctx).catch((e: unknown) => e);
    vault.sealed = false;
    expect(sealedErr).toMatchObject({ code: 'E_KMS_UNAVAILABLE', retryable: true });
    expect((sealedErr as Error).message).toMatch(/503.*sealed/);
    for (const [status, code] of [
      [500, 'E_KMS_UNAVAILABLE'],
      [502, 'E_KMS_UNAVAILABLE'],
      [429, 'E_KMS_UNAVAILABLE'],
      [403, 'E_KMS_REJECTED'],
      [404, 'E_KMS_REJECTED'],
    ] as const) {
      vault.failNext(status, `status ${status}`);
      const e = await p.wrap(dk, ctx).catch((x: unknown) => x);
      expect(e).toMatchObject({ code });
      expect((e as Error).message).not.toContain(dk.toString('base64'));
    }
    await expect(providerFor({ token: 'wrong' }).unwrap(w, ctx)).rejects.toMatchObject({
      code: 'E_KMS_REJECTED',
      message: expect.stringMatching(/403.*permission denied/) as unknown,
    });
    await expect(providerFor({ transitKey: 'missing' }).wrap(dk, ctx)).rejects.toMatchObject({
      code: 'E_KMS_REJECTED',
    });
    const missing = providerFor({ transitKey: 'missing' });
    await expect(missing.unwrap({ ...w, kekId: missing.kekId }, ctx)).rejects.toMatchObject({
      code: 'E_KMS_REJECTED',
      message: expect.stringContaining('encryption key not found') as unknown,
    });
    await expect(
      p.unwrap({ ...w, wrapped: Buffer.from('not-a-vault-ciphertext') }, ctx),
    ).rejects.toMatchObject({ code: 'E_SECRET_DECRYPT_FAILED' });
    const bad = Buffer.from(
      w.wrapped.toString().replace(/.(?=.{4}$)/, (c) => (c === 'A' ? 'B' : 'A')),
    );
    await expect(p.unwrap({ ...w, wrapped: bad }, ctx)).rejects.toMatchObject({
      code: 'E_SECRET_DECRYPT_FAILED',
    });
  });

  it('refuses a Transit key that is not derived', async () => {
    await expect(providerFor({ transitKey: 'plain' }).latestVersion()).rejects.toMatchObject({
      code: 'E_KMS_REJECTED',
      message: expect.stringContaining('derived=true') as unknown,
    });
  });

  it('is unavailable (retryable), not crashing, when Vault is down or slow', async () => {
    const down = providerFor({ address: `http://127.0.0.1:${await freePort()}` });
    await expect(down.wrap(randomBytes(32), ctx)).rejects.toMatchObject({
      code: 'E_KMS_UNAVAILABLE',
      retryable: true,
    });
    vault.delayMs = 500;
    try {
      await expect(providerFor({ timeoutMs: 100 }).latestVersion()).rejects.toMatchObject({
        code: 'E_KMS_UNAVAILABLE',
      });
    } finally {
      vault.delayMs = 0;
    }
  });
});
