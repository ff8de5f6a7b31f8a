/**
 * The embedded PostgreSQL is reached over its Unix socket, in the cluster's own directory:
 * cheaper per round trip than loopback TCP, and reachable only by the server's OS user (and
 * root). 127.0.0.1 keeps answering for pg_dump and psql; a cluster too deep for a socket's
 * address goes over 127.0.0.1 alone.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.ts';
import { testLogger } from '../support/db.ts';
import { freePort } from '../support/free-port.ts';

const asRoot = process.getuid?.() === 0;
let dir: string;
const servers: EmbeddedPostgres[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sy-sock-'));
  // Reachable by the postgres OS user, so the cluster stays under this directory as root too.
  await chmod(dir, 0o755);
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  await rm(dir, { recursive: true, force: true });
});

async function start(dataDir: string, port: number): Promise<EmbeddedPostgres> {
  const server = await startEmbeddedPostgres({
    dataDir,
    port,
    logger: testLogger,
    settings: { fsync: 'off' },
  });
  servers.push(server);
  return server;
}

async function clientAddress(url: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ addr: string | null }>('select inet_client_addr()::text as addr'))
      .rows[0]!.addr;
  } finally {
    await c.end();
  }
}

const overTcp = (url: string) => {
  const u = new URL(url);
  u.searchParams.delete('host');
  return u.toString();
};

describe('the embedded PostgreSQL over a Unix socket', () => {
  it('connects over the socket in the cluster directory, keeps 127.0.0.1, and shuts out other OS users', async () => {
    const port = await freePort();
    const server = await start(path.join(dir, 'data'), port);
    const socketDir = new URL(server.ownerUrl).searchParams.get('host');
    expect(socketDir).toBe(path.join(dir, 'data', 'pg'));
    expect(await clientAddress(server.ownerUrl)).toBeNull();
    expect(await clientAddress(overTcp(server.ownerUrl))).toBe('127.0.0.1/32');

    // The socket's directory is the cluster's, private to the server's OS user.
    expect((await stat(socketDir!)).mode & 0o777).toBe(0o700);
    if (asRoot) {
      // Another local user cannot even reach the socket to try a password.
      const probe = spawnSync(
        process.execPath,
        [
          '-e',
          `require('net').connect(${JSON.stringify(path.join(socketDir!, `.s.PGSQL.${port}`))})` +
            `.on('connect', () => { console.log('connected'); process.exit(0); })` +
            `.on('error', (e) => { console.log(e.code); process.exit(0); })`,
        ],
        { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 10_000 },
      );
      expect(probe.stdout.trim()).toBe('EACCES');
    }

    // A one-shot command beside the running server gets the same way in.
    const beside = await start(path.join(dir, 'data'), port);
    expect(beside.ownerUrl).toBe(server.ownerUrl);
  }, 120_000);

  it('goes over 127.0.0.1 when the cluster directory is too deep for a socket address', async () => {
    const deep = path.join(dir, 'd'.repeat(60), 'e'.repeat(40));
    await mkdir(deep, { recursive: true });
    for (let d = deep; d !== dir; d = path.dirname(d)) await chmod(d, 0o755);
    const server = await start(deep, await freePort());
    expect(new URL(server.ownerUrl).searchParams.has('host')).toBe(false);
    expect(await clientAddress(server.ownerUrl)).toBe('127.0.0.1/32');
  }, 120_000);
});
