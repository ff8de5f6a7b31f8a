/**
 * The local provider's master key ring: `version:base64` entries (comma- or newline-separated)
 * or a single base64 key (version 1). Each key is exactly 32 random bytes. The embedded
 * default is a key file made on first start in the data directory, mode 0600, printed nowhere.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { SwitchyardError } from '../../model/errors.ts';

export type MasterKeyRing = { keys: Map<number, Buffer>; latest: number };

export function parseMasterKeys(text: string, source: string): MasterKeyRing {
  const entries = text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && !s.startsWith('#'));
  const keys = new Map<number, Buffer>();
  for (const entry of entries) {
    const m = /^(?:(\d{1,9}):)?([A-Za-z0-9+/_-]+={0,2})$/.exec(entry);
    const version = m?.[1] === undefined ? (entries.length === 1 ? 1 : NaN) : Number(m[1]);
    const key = m?.[2] === undefined ? undefined : Buffer.from(m[2], 'base64');
    if (!m || !Number.isInteger(version) || version < 1 || key?.length !== 32) {
      throw new SwitchyardError(
        'E_CONFIG_INVALID',
        `${source}: expected a base64 key of 32 bytes, or "<version>:<base64>" entries separated by commas or lines (the key itself is not shown)`,
        { source },
      );
    }
    if (keys.has(version)) {
      throw new SwitchyardError('E_CONFIG_INVALID', `${source}: version ${version} appears twice`, {
        source,
      });
    }
    keys.set(version, key);
  }
  if (keys.size === 0) {
    throw new SwitchyardError('E_CONFIG_INVALID', `${source}: no master key found`, { source });
  }
  return { keys, latest: Math.max(...keys.keys()) };
}

export function formatMasterKeys(ring: MasterKeyRing): string {
  return (
    [...ring.keys.entries()]
      .sort(([a], [b]) => b - a)
      .map(([v, k]) => `${v}:${k.toString('base64')}`)
      .join('\n') + '\n'
  );
}

/** Reads the key file; refuses one that others can read. */
export async function readMasterKeyFile(file: string): Promise<MasterKeyRing> {
  const info = await stat(file);
  if ((info.mode & 0o077) !== 0) {
    throw new SwitchyardError(
      'E_CONFIG_INVALID',
      `The master key file ${file} is readable by group or others (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 on it.`,
      { file },
    );
  }
  return parseMasterKeys(await readFile(file, 'utf8'), file);
}

/** Creates the key file with one fresh key unless it exists; returns the ring either way. */
export async function loadOrCreateMasterKeyFile(
  file: string,
): Promise<{ ring: MasterKeyRing; created: boolean }> {
  let created = false;
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(
        formatMasterKeys({ keys: new Map([[1, randomBytes(32)]]), latest: 1 }),
      );
    } finally {
      await handle.close();
    }
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return { ring: await readMasterKeyFile(file), created };
}

/** Atomically replaces the key file (write to a temp file with 0600, then rename). */
export async function writeMasterKeyFile(file: string, ring: MasterKeyRing): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, formatMasterKeys(ring), { mode: 0o600, flag: 'w' });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}
