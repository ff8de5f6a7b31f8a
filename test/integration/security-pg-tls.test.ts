/**
 * PostgreSQL over TLS: an embedded server started with ssl=on and a certificate made here;
 * Switchyard's own connection code (waitForDatabase, createPool) honours sslmode=verify-full
 * and sslrootcert in the URL: the right CA connects over TLS, a wrong CA is refused.
 */
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.ts';
import { createPool, waitForDatabase } from '../../src/db/pool.ts';
import { testLogger } from '../support/db.ts';
import { freePort } from '../support/free-port.ts';
import { makeTestCerts, type TestCerts } from '../support/security-certs.ts';

let dir: string;
let certs: TestCerts;
let server: EmbeddedPostgres;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sy-pg-tls-'));
  await chmod(dir, 0o755);
  certs = await makeTestCerts(path.join(dir, 'certs'));
  // PostgreSQL runs as the OS user `postgres` when we are root; it insists that its key file
  // is owned by it (or root) and not readable by others.
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(certs.serverKey, uid, gid);
  }
  await chmod(certs.serverKey, 0o600);
  server = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'data'),
    port: await freePort(),
    logger: testLogger,
    settings: {
      // 127.0.0.2 too: the same server under an address its certificate does not name.
      listen_addresses: '127.0.0.1,127.0.0.2',
      // TLS is a matter of TCP: without a Unix socket, the server's URL is a TCP one.
      unix_socket_directories: '',
      ssl: 'on',
      ssl_cert_file: certs.serverCert,
      ssl_key_file: certs.serverKey,
      ssl_min_protocol_version: 'TLSv1.2',
      fsync: 'off',
    },
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const withSsl = (url: string, params: Record<string, string>) => {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
};

describe('PostgreSQL connections over TLS', () => {
  it('connects with sslmode=verify-full and the right CA, over TLS 1.2+', async () => {
    const url = withSsl(server.ownerUrl, { sslmode: 'verify-full', sslrootcert: certs.caCert });
    await waitForDatabase(url, { retryForMs: 1_000, connectTimeoutMs: 5_000, logger: testLogger });
    const pool = createPool({
      url,
      max: 1,
      connectTimeoutMs: 5_000,
      applicationName: 'tls-test',
      logger: testLogger,
    });
    try {
      const res = await pool.query<{ ssl: boolean; version: string }>(
        'select ssl, version from pg_stat_ssl where pid = pg_backend_pid()',
      );
      expect(res.rows[0]?.ssl).toBe(true);
      expect(['TLSv1.2', 'TLSv1.3']).toContain(res.rows[0]?.version);
    } finally {
      await pool.end();
    }
  });

  it('refuses a server whose certificate a wrong CA did not sign', async () => {
    const url = withSsl(server.ownerUrl, {
      sslmode: 'verify-full',
      sslrootcert: certs.otherCaCert,
    });
    await expect(
      waitForDatabase(url, { retryForMs: 1, connectTimeoutMs: 5_000, logger: testLogger }),
    ).rejects.toMatchObject({
      code: 'E_DB_UNREACHABLE',
      message: expect.stringMatching(/certificate/i) as unknown,
    });
  });

  it('refuses a host name the certificate does not name', async () => {
    const u = new URL(
      withSsl(server.ownerUrl, { sslmode: 'verify-full', sslrootcert: certs.caCert }),
    );
    u.hostname = '127.0.0.2'; // same loopback server, a name not in the certificate
    await expect(
      waitForDatabase(u.toString(), { retryForMs: 1, connectTimeoutMs: 5_000, logger: testLogger }),
    ).rejects.toMatchObject({
      code: 'E_DB_UNREACHABLE',
      message: expect.stringMatching(/altnames/) as unknown,
    });
  });
});
