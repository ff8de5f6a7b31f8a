/**
 * Issue 12: root runs `npm start` from a clone inside a 0700 directory (root's home, mktemp -d).
 * PostgreSQL runs as the OS user postgres, which cannot reach that tree: the cluster and the
 * binaries must live where it can, data must persist between starts, and no file holding the
 * database password may be world-readable or left behind, on success or on failure.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateBinaries, SYSTEM_HOME, type ServerUser } from '../../src/db/embedded-home.ts';
import { initCluster } from '../../src/db/embedded-server.ts';
import { isSwitchyardError } from '../../src/model/errors.ts';
import { stopProcess, waitForStatus } from '../support/cli.ts';
import { freePort } from '../support/free-port.ts';
import {
  filesHolding,
  makePrivateClone,
  spawnIn,
  type PrivateClone,
} from '../support/private-clone.ts';

const asRoot = process.getuid?.() === 0;

let clone: PrivateClone;
let tmpDir: string;
let env: Record<string, string>;
let base: string;
let binariesCopy: string;
let binariesExisted: boolean;

beforeAll(async () => {
  clone = await makePrivateClone();
  tmpDir = await mkdtemp(path.join(os.tmpdir(), 'sy-tmpdir-'));
  const port = await freePort();
  env = { PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()), TMPDIR: tmpDir };
  base = `http://127.0.0.1:${port}`;
  const { version } = await locateBinaries();
  binariesCopy = path.join(SYSTEM_HOME, `postgres-${version}-${os.platform()}-${os.arch()}`);
  binariesExisted = existsSync(binariesCopy);
});

afterAll(async () => {
  const pointer = path.join(clone.clone, '.switchyard', 'embedded-cluster.txt');
  if (existsSync(pointer)) {
    const home = (await readFile(pointer, 'utf8')).split('\n')[0]!;
    if (home.startsWith(`${SYSTEM_HOME}/embedded/`))
      await rm(home, { recursive: true, force: true });
  }
  if (!binariesExisted) await rm(binariesCopy, { recursive: true, force: true });
  await clone.cleanup();
  await rm(tmpDir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawnIn(clone.clone, args, env);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr };
}

async function ownerPassword(): Promise<string> {
  const file = path.join(clone.clone, '.switchyard', 'credentials.json');
  return (JSON.parse(await readFile(file, 'utf8')) as { ownerPassword: string }).ownerPassword;
}

async function countTenants(): Promise<number> {
  const c = new pg.Client({
    connectionString: `postgres://postgres:${encodeURIComponent(await ownerPassword())}@127.0.0.1:${env.EMBEDDED_PG_PORT}/switchyard`,
  });
  await c.connect();
  try {
    return (await c.query<{ n: number }>('select count(*)::int as n from tenants')).rows[0]!.n;
  } finally {
    await c.end();
  }
}

/** Every file under `dir` (not descending into the cluster itself) that others can read. */
async function worldReadableHolding(secret: string, dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    if (entry === 'pg' || entry.startsWith(`pg${path.sep}`)) continue;
    const file = path.join(dir, entry);
    const info = await stat(file);
    if (!info.isFile() || (info.mode & 0o004) === 0) continue;
    if ((await readFile(file, 'utf8')).includes(secret)) found.push(file);
  }
  return found;
}

describe.runIf(asRoot)('switchyard start as root from a clone in a 0700 directory', () => {
  it('runs the embedded PostgreSQL where its OS user can reach it, keeps data, and leaves no password file', async () => {
    expect((await stat(clone.root)).mode & 0o777).toBe(0o700);
    const first = spawnIn(clone.clone, ['start'], env);
    let stderr = '';
    first.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const exited = once(first, 'exit').then(([code]) => {
        throw new Error(`start exited (${String(code)}) before ready: ${stderr}`);
      });
      exited.catch(() => undefined);
      await Promise.race([waitForStatus(`${base}/readyz`, 200, 120_000), exited]);
      const created = await run([
        'tenant',
        'create',
        '--name',
        'Kept',
        '--owner-email',
        'k@kept.test',
      ]);
      expect(created).toEqual({ code: 0, stderr: '' });
      expect(await countTenants()).toBe(1);
      // The web app, built by `npm install`, is served at / with its security headers.
      const home = await fetch(`${base}/`);
      expect(home.status).toBe(200);
      expect(home.headers.get('content-security-policy')).toContain("script-src 'self'");
    } finally {
      expect({ exit: await stopProcess(first), stderr }).toEqual({ exit: 0, stderr: '' });
    }
    expect(stderr).not.toMatch(/EACCES|Permission denied|\n\s+at /);

    const dataDir = path.join(clone.clone, '.switchyard');
    const home = (await readFile(path.join(dataDir, 'embedded-cluster.txt'), 'utf8')).split(
      '\n',
    )[0]!;
    expect(home.startsWith(`${SYSTEM_HOME}/embedded/cluster-`)).toBe(true);
    const pgInfo = await stat(path.join(home, 'pg'));
    expect(pgInfo.mode & 0o777).toBe(0o700);
    expect(pgInfo.uid).not.toBe(0);
    expect(existsSync(path.join(home, 'pg', 'postmaster.pid'))).toBe(false);
    expect((await stat(path.join(dataDir, 'credentials.json'))).mode & 0o777).toBe(0o600);

    const secret = await ownerPassword();
    expect(await filesHolding(secret, [tmpDir, os.tmpdir(), '/tmp', home])).toEqual([]);
    expect(await worldReadableHolding(secret, dataDir)).toEqual([]);
    expect(await worldReadableHolding(secret, home)).toEqual([]);

    const second = spawnIn(clone.clone, ['start'], env);
    try {
      await waitForStatus(`${base}/readyz`, 200, 60_000);
      expect(await countTenants()).toBe(1);
    } finally {
      expect(await stopProcess(second)).toBe(0);
    }
  }, 240_000);
});

describe.runIf(asRoot)('initdb failing', () => {
  const user: ServerUser = undefined;
  for (const [name, initdb] of [
    ['exits non-zero', '/bin/false'],
    ['cannot be run', '/nonexistent/initdb'],
  ] as const) {
    it(`${name}: E_EMBEDDED_PG_FAILED, and its password file is gone`, async () => {
      const home = await mkdtemp(path.join(os.tmpdir(), 'sy-initdb-'));
      try {
        const password = `pw-${Math.random().toString(36).slice(2)}-${name.length}`;
        const bins = { initdb, postgres: '/bin/false', version: 'test' };
        const err = await initCluster(path.join(home, 'pg'), password, {
          bins,
          user,
          cwd: home,
          onLog: () => undefined,
        }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isSwitchyardError(err) && err.code).toBe('E_EMBEDDED_PG_FAILED');
        expect(await filesHolding(password, [home, os.tmpdir(), '/tmp'])).toEqual([]);
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    });
  }
});
