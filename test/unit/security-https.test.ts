import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { loadConfig } from '../../src/config/index.ts';
import { loadTlsServerOptions } from '../../src/security/transport.ts';
import { testLogger } from '../support/db.ts';
import { makeTestCerts, type TestCerts } from '../support/security-certs.ts';

// The health routes do not touch the pool; these tests are about the transport only.
const noPool = {} as pg.Pool;
let dir: string;
let certs: TestCerts;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sy-https-'));
  certs = await makeTestCerts(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function get(port: number, ca: string, urlPath: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; protocol: string }>(
    (resolve, reject) => {
      const req = https.get(
        { host: '127.0.0.1', port, path: urlPath, ca, servername: 'localhost', agent: false },
        (res) => {
          const protocol = (res.socket as tls.TLSSocket).getProtocol() ?? '';
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, protocol }),
          );
        },
      );
      req.on('error', reject);
    },
  );
}

describe('HTTPS server', () => {
  it('serves HTTPS with TLS 1.2+ and sends HSTS; refuses TLS 1.1', async () => {
    const app = await buildServer({
      pool: noPool,
      logger: testLogger,
      readinessChecks: [],
      tls: await loadTlsServerOptions({ certFile: certs.serverCert, keyFile: certs.serverKey }),
      transport: { requireHttps: true, hstsMaxAgeS: 1234 },
    });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as AddressInfo).port;
      const { readFile } = await import('node:fs/promises');
      const ca = await readFile(certs.caCert, 'utf8');
      const res = await get(port, ca, '/livez');
      expect(res.status).toBe(200);
      expect(res.headers['strict-transport-security']).toBe('max-age=1234; includeSubDomains');
      expect(['TLSv1.2', 'TLSv1.3']).toContain(res.protocol);
      const old = await new Promise<string>((resolve) => {
        const s = tls.connect({
          host: '127.0.0.1',
          port,
          ca,
          servername: 'localhost',
          minVersion: 'TLSv1',
          maxVersion: 'TLSv1.1',
          ciphers: 'DEFAULT@SECLEVEL=0',
        });
        s.on('secureConnect', () => {
          s.destroy();
          resolve('connected');
        });
        s.on('error', (e: Error) => resolve(e.message));
      });
      // The server refuses the handshake (the client is allowed TLS 1.0-1.1 here).
      expect(old).toMatch(/alert protocol version/);
    } finally {
      await app.close();
    }
  });

  it('behind a trusted proxy, REQUIRE_HTTPS redirects GET, refuses other methods, spares probes', async () => {
    const app = await buildServer({
      pool: noPool,
      logger: testLogger,
      readinessChecks: [],
      trustProxy: true,
      transport: { requireHttps: true, hstsMaxAgeS: 60 },
    });
    try {
      const plain = { 'x-forwarded-proto': 'http', host: 'switchyard.example' };
      const redirect = await app.inject({ method: 'GET', url: '/graphql?x=1', headers: plain });
      expect(redirect.statusCode).toBe(308);
      expect(redirect.headers.location).toBe('https://switchyard.example/graphql?x=1');
      expect(redirect.headers['cache-control']).toBe('no-store');
      const oddHost = await app.inject({
        method: 'GET',
        url: '/x',
        headers: { ...plain, host: 'evil.example/@x' },
      });
      expect(oddHost.statusCode).toBe(403);
      const post = await app.inject({
        method: 'POST',
        url: '/graphql',
        headers: plain,
        payload: {},
      });
      expect(post.statusCode).toBe(403);
      expect(post.json()).toMatchObject({ code: 'E_HTTPS_REQUIRED' });
      for (const probe of ['/livez', '/readyz']) {
        expect((await app.inject({ method: 'GET', url: probe, headers: plain })).statusCode).toBe(
          200,
        );
      }
      const secure = await app.inject({
        method: 'GET',
        url: '/livez',
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(secure.headers['strict-transport-security']).toBe('max-age=60; includeSubDomains');
    } finally {
      await app.close();
    }
  });

  it('does not believe X-Forwarded-Proto without TRUST_PROXY', async () => {
    const app = await buildServer({
      pool: noPool,
      logger: testLogger,
      readinessChecks: [],
      transport: { requireHttps: true, hstsMaxAgeS: 60 },
    });
    try {
      const res = await app.inject({
        method: 'GET',
        url: '/anything',
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(res.statusCode).toBe(308);
      expect(res.headers['strict-transport-security']).toBeUndefined();
    } finally {
      await app.close();
    }
  });
});

describe('security configuration', () => {
  it('parses a complete configuration', () => {
    const key = randomBytes(32).toString('base64');
    const cfg = loadConfig({
      SWITCHYARD_MASTER_KEY: `2:${key},1:${randomBytes(32).toString('base64')}`,
      TLS_CERT_FILE: '/c.pem',
      TLS_KEY_FILE: '/k.pem',
      TRUST_PROXY: '10.0.0.0/8,127.0.0.1',
      REQUIRE_HTTPS: 'true',
    }).security;
    expect(cfg).toMatchObject({
      kms: { provider: 'local' },
      tls: { certFile: '/c.pem', keyFile: '/k.pem' },
      trustProxy: ['10.0.0.0/8', '127.0.0.1'],
      requireHttps: true,
      keyCacheTtlMs: 300_000,
    });
  });

  it('names each bad variable and never echoes a secret value', () => {
    const badKey = randomBytes(20).toString('base64');
    const token = `hvs.${randomBytes(8).toString('hex')}`;
    let message = '';
    try {
      loadConfig({
        SWITCHYARD_MASTER_KEY: badKey,
        TLS_CERT_FILE: '/c.pem',
        KMS_PROVIDER: 'local',
        VAULT_ADDR: 'http://vault.example:8200',
        VAULT_TOKEN: token,
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('SWITCHYARD_MASTER_KEY="***"');
    expect(message).toContain('VAULT_ADDR');
    expect(message).not.toContain(badKey);
    expect(message).not.toContain(token);
    let vaultMessage = '';
    try {
      loadConfig({ KMS_PROVIDER: 'vault', VAULT_ADDR: 'https://vault.example:8200' });
    } catch (err) {
      vaultMessage = (err as Error).message;
    }
    expect(vaultMessage).toContain('VAULT_TOKEN=(unset): required with KMS_PROVIDER=vault');
  });
});
