/**
 * The image's entrypoint (deploy/docker-entrypoint.sh) and its roles, run as processes the way
 * the container runs them (there is no Docker engine here): secrets from *_FILE variables, no
 * embedded PostgreSQL, one command per role, and a clean stop on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnvFor, repoRoot, waitForStatus } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { freePort } from '../support/free-port.ts';

const entrypoint = path.join(repoRoot, 'deploy/docker-entrypoint.sh');
let db: TestDatabase;
let secrets: string;
let fileEnv: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  secrets = await mkdtemp(path.join(os.tmpdir(), 'switchyard-secrets-'));
  const env = cliEnvFor(db);
  await writeFile(path.join(secrets, 'database_url'), `${env.DATABASE_URL}\n`, { mode: 0o600 });
  await writeFile(path.join(secrets, 'app_password'), `${env.DATABASE_APP_PASSWORD}\n`, {
    mode: 0o600,
  });
  await writeFile(path.join(secrets, 'master_key'), Buffer.alloc(32, 5).toString('base64'), {
    mode: 0o600,
  });
  fileEnv = {
    DATABASE_APP_ROLE: env.DATABASE_APP_ROLE!,
    DATABASE_URL_FILE: path.join(secrets, 'database_url'),
    DATABASE_APP_PASSWORD_FILE: path.join(secrets, 'app_password'),
    SWITCHYARD_MASTER_KEY_FILE: path.join(secrets, 'master_key'),
  };
});
afterAll(async () => {
  await rm(secrets, { recursive: true, force: true });
  await db.drop();
});

function run(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(entrypoint, args, {
    cwd: '/',
    env: {
      PATH: process.env.PATH ?? '',
      HOME: '/nonexistent',
      LOG_LEVEL: 'warn',
      SWITCHYARD_APP_DIR: repoRoot,
      // The image's data dir is a volume; nothing may be written there with DATABASE_URL.
      SWITCHYARD_DATA_DIR: path.join(secrets, 'data-dir-never-created'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function finish(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

describe('the image entrypoint', () => {
  it('refuses to start without DATABASE_URL: the image has no embedded PostgreSQL', async () => {
    for (const role of ['api', 'worker', 'scheduler', 'migrate']) {
      const r = await finish(run([role], {}));
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/DATABASE_URL \(or DATABASE_URL_FILE\) is required/);
    }
    const start = await finish(run(['start'], fileEnv));
    expect(start.code).toBe(2);
    expect(start.err).toMatch(/in the image run api, worker and scheduler/);
    const unknown = await finish(run(['web'], fileEnv));
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown role 'web'/);
  });

  it('reads secrets from *_FILE, refuses a secret given twice, never echoes it', async () => {
    const migrated = await finish(run(['migrate'], fileEnv));
    expect(migrated.err).toBe('');
    expect(migrated.code).toBe(0);
    expect(migrated.out).toBe('Migrations are up to date.\n');
    const twice = await finish(
      run(['migrate'], { ...fileEnv, DATABASE_URL: 'postgres://x:hunter2hunter2@db/x' }),
    );
    expect(twice.code).toBe(2);
    expect(twice.err).toMatch(/set DATABASE_URL or DATABASE_URL_FILE, not both/);
    expect(twice.err).not.toContain('hunter2');
    const missing = await finish(
      run(['migrate'], { ...fileEnv, DATABASE_URL_FILE: '/nonexistent/secret' }),
    );
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/DATABASE_URL_FILE=\/nonexistent\/secret is not readable/);
  }, 60_000);

  it('runs api (ready on /readyz), worker and scheduler; each stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const api = run(['api'], { ...fileEnv, PORT: String(port) });
    const worker = run(['worker'], { ...fileEnv, WORKER_METRICS_PORT: String(metricsPort) });
    const scheduler = run(['scheduler'], fileEnv);
    const done = [api, worker, scheduler].map(finish);
    try {
      await waitForStatus(`http://127.0.0.1:${port}/readyz`, 200, 30_000);
      await waitForStatus(`http://127.0.0.1:${metricsPort}/metrics`, 200, 30_000);
      await new Promise((r) => setTimeout(r, 1_000));
      // exec: the pid the container runtime signals is the role's Node process itself.
      for (const c of [api, worker, scheduler]) expect(c.exitCode).toBeNull();
      for (const c of [api, worker, scheduler]) c.kill('SIGTERM');
      const results = await Promise.all(done);
      expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
      // Nothing was written to the data dir (with a read-only root, only /tmp is writable).
      await expect(stat(path.join(secrets, 'data-dir-never-created'))).rejects.toThrow(/ENOENT/);
    } finally {
      for (const c of [api, worker, scheduler]) if (c.exitCode === null) c.kill('SIGKILL');
    }
  }, 60_000);
});
