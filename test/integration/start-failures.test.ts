/**
 * Issue 12: every way `switchyard start` can fail at start-up that we know of ends the same
 * way for the operator: one line `switchyard: E_CODE: message` on stderr, a non-zero exit code,
 * and no stack trace anywhere.
 */
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnvFor, runCli } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { freePort } from '../support/free-port.ts';

let db: TestDatabase;
let scratch: string;

beforeAll(async () => {
  db = await createTestDatabase();
  scratch = await mkdtemp(path.join(os.tmpdir(), 'sy-fail-'));
  // Reachable by the postgres OS user, so that data dirs in it hold their own cluster.
  await chmod(scratch, 0o711);
});
afterAll(async () => {
  await db.drop();
  await rm(scratch, { recursive: true, force: true });
});

/** Runs `start` with `env` and checks the one-line failure; returns the line. */
async function expectStartFailure(env: Record<string, string>, code: string): Promise<string> {
  const r = await runCli(['start'], { PORT: String(await freePort()), ...env }, 90_000);
  const lines = r.stderr.split('\n').filter(Boolean);
  expect({ exit: r.code === 0 ? 0 : 'non-zero', lines: lines.length }).toEqual({
    exit: 'non-zero',
    lines: 1,
  });
  expect(lines[0]).toMatch(new RegExp(`^switchyard: ${code}: \\S.*$`));
  expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/\n\s+at \S|"stack":"[^"]/);
  return lines[0]!;
}

function occupy(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('switchyard start fails in one line', { timeout: 120_000 }, () => {
  it('bad config value: E_CONFIG_INVALID naming the variable', async () => {
    const line = await expectStartFailure({ PORT: 'eighty' }, 'E_CONFIG_INVALID');
    expect(line).toContain('PORT');
  });

  it('several bad values: still one line', async () => {
    await expectStartFailure(
      { DATABASE_POOL_MAX: '0', LOG_LEVEL: 'loud', EMBEDDED_PG_PORT: 'x' },
      'E_CONFIG_INVALID',
    );
  });

  it('HTTP port in use: E_PORT_IN_USE naming PORT', async () => {
    const port = await freePort();
    const server = await occupy(port);
    try {
      const line = await expectStartFailure(
        cliEnvFor(db, {
          PORT: String(port),
          HOST: '127.0.0.1',
          SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
        }),
        'E_PORT_IN_USE',
      );
      expect(line).toContain('PORT');
    } finally {
      server.close();
    }
  });

  it('embedded PostgreSQL port in use: E_PORT_IN_USE naming EMBEDDED_PG_PORT', async () => {
    const pgPort = await freePort();
    const server = await occupy(pgPort);
    try {
      const line = await expectStartFailure(
        { SWITCHYARD_DATA_DIR: path.join(scratch, 'busy'), EMBEDDED_PG_PORT: String(pgPort) },
        'E_PORT_IN_USE',
      );
      expect(line).toContain('EMBEDDED_PG_PORT');
    } finally {
      server.close();
    }
  });

  it('data dir not writable: E_DATA_DIR_NOT_WRITABLE naming the directory and the fix', async () => {
    const file = path.join(scratch, 'a-file');
    await writeFile(file, '');
    const line = await expectStartFailure(
      { SWITCHYARD_DATA_DIR: path.join(file, 'data') },
      'E_DATA_DIR_NOT_WRITABLE',
    );
    expect(line).toContain(path.join(file, 'data'));
    expect(line).toContain('SWITCHYARD_DATA_DIR');
  });

  it('DATABASE_URL unreachable: E_DB_UNREACHABLE naming host and port, not the password', async () => {
    const port = await freePort();
    const line = await expectStartFailure(
      {
        DATABASE_URL: `postgres://owner:very-secret-pw@127.0.0.1:${port}/switchyard`,
        DATABASE_APP_PASSWORD: 'another-secret-pw',
        DATABASE_CONNECT_RETRY_MS: '300',
      },
      'E_DB_UNREACHABLE',
    );
    expect(line).toContain(`127.0.0.1:${port}`);
    expect(line).not.toMatch(/secret-pw/);
  });

  it('runtime role too privileged: E_DB_ROLE_PRIVILEGED', async () => {
    await expectStartFailure({ DATABASE_APP_URL: db.ownerUrl }, 'E_DB_ROLE_PRIVILEGED');
  });

  it('an applied migration edited: E_MIGRATION_EDITED', async () => {
    const { rows } = await db.ownerPool.query<{ checksum: string }>(
      'select checksum from schema_migrations where version = 1',
    );
    await db.ownerPool.query(`update schema_migrations set checksum = 'edited' where version = 1`);
    try {
      await expectStartFailure(cliEnvFor(db), 'E_MIGRATION_EDITED');
    } finally {
      await db.ownerPool.query('update schema_migrations set checksum = $1 where version = 1', [
        rows[0]!.checksum,
      ]);
    }
  });

  it('an unknown migration applied: E_MIGRATION_UNKNOWN', async () => {
    await db.ownerPool.query(
      `insert into schema_migrations (version, name, checksum) values (9999, '9999_future.sql', 'x')`,
    );
    try {
      await expectStartFailure(cliEnvFor(db), 'E_MIGRATION_UNKNOWN');
    } finally {
      await db.ownerPool.query(`delete from schema_migrations where version = 9999`);
    }
  });

  it('embedded PostgreSQL failing (a damaged cluster): E_EMBEDDED_PG_FAILED naming the directory', async () => {
    const dataDir = path.join(scratch, 'damaged');
    const pgDir = path.join(dataDir, 'pg');
    await mkdir(pgDir, { recursive: true, mode: 0o700 });
    await writeFile(path.join(pgDir, 'PG_VERSION'), '7\n');
    if (process.getuid?.() === 0) {
      const { execFileSync } = await import('node:child_process');
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
      await chown(pgDir, uid, gid);
    }
    const line = await expectStartFailure(
      { SWITCHYARD_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) },
      'E_EMBEDDED_PG_FAILED',
    );
    expect(line).toContain(pgDir);
  });
});
