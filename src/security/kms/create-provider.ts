/** Builds the configured key provider (KMS_PROVIDER) at start. */
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { KmsConfig } from '../../config/security.ts';
import { SwitchyardError } from '../../model/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { createLocalProvider } from './local.ts';
import {
  loadOrCreateMasterKeyFile,
  parseMasterKeys,
  readMasterKeyFile,
  writeMasterKeyFile,
  type MasterKeyRing,
} from './master-keys.ts';
import type { KeyProvider } from './provider.ts';
import { createVaultProvider } from './vault.ts';

export const EMBEDDED_MASTER_KEY_FILE = 'master.key';

export async function createKeyProvider(
  cfg: KmsConfig,
  opts: {
    dataDir: string;
    embeddedDatabase: boolean;
    logger: Logger;
    /**
     * Called when the embedded key file was just generated: true when the database already
     * holds data keys wrapped by a local key, i.e. the old key file was lost.
     */
    databaseHasLocalKeys?: () => Promise<boolean>;
  },
): Promise<KeyProvider> {
  if (cfg.provider === 'vault') {
    const caPem = cfg.caFile ? await readFile(cfg.caFile, 'utf8') : undefined;
    return createVaultProvider({
      address: cfg.address,
      token: cfg.token,
      transitMount: cfg.transitMount,
      transitKey: cfg.transitKey,
      timeoutMs: cfg.timeoutMs,
      ...(cfg.namespace ? { namespace: cfg.namespace } : {}),
      ...(caPem ? { caPem } : {}),
    });
  }
  if (cfg.masterKey) {
    return createLocalProvider({ ring: parseMasterKeys(cfg.masterKey, 'SWITCHYARD_MASTER_KEY') });
  }
  let file = cfg.masterKeyFile;
  let ring: MasterKeyRing;
  if (file) {
    ring = await readMasterKeyFile(file);
  } else if (opts.embeddedDatabase) {
    // The embedded default: the key lives next to the database it protects. Other processes
    // cannot share an embedded database, so one generated file is safe here, and only here.
    file = path.join(opts.dataDir, EMBEDDED_MASTER_KEY_FILE);
    const loaded = await loadOrCreateMasterKeyFile(file);
    ring = loaded.ring;
    if (loaded.created && (await opts.databaseHasLocalKeys?.())) {
      // A fresh key cannot open the stored data keys: refuse rather than fail every secret.
      await rm(file, { force: true });
      throw new SwitchyardError(
        'E_CONFIG_INVALID',
        `The master key file ${file} is missing, but the database holds data keys wrapped by a local master key. Restore master.key from the backup of ${opts.dataDir} (or set SWITCHYARD_MASTER_KEY / SWITCHYARD_MASTER_KEY_FILE to it).`,
        { file },
      );
    }
    opts.logger.info({ file, created: loaded.created }, 'local master key file in use');
  } else {
    throw new SwitchyardError(
      'E_CONFIG_INVALID',
      'Invalid configuration:\nSWITCHYARD_MASTER_KEY=(unset): with DATABASE_URL set, every process must share one key: set SWITCHYARD_MASTER_KEY (openssl rand -base64 32), SWITCHYARD_MASTER_KEY_FILE, or KMS_PROVIDER=vault',
    );
  }
  return fileBackedLocalProvider(file, ring);
}

export function fileBackedLocalProvider(file: string, ring: MasterKeyRing): KeyProvider {
  return createLocalProvider({
    ring,
    async addVersion() {
      const onDisk = await readMasterKeyFile(file);
      const version = Math.max(onDisk.latest, ring.latest) + 1;
      onDisk.keys.set(version, randomBytes(32));
      onDisk.latest = version;
      await writeMasterKeyFile(file, onDisk);
      for (const [v, k] of onDisk.keys) ring.keys.set(v, k);
      ring.latest = version;
      return version;
    },
    async removeVersionsUpTo(version) {
      const onDisk = await readMasterKeyFile(file);
      for (const v of [...onDisk.keys.keys()]) if (v <= version) onDisk.keys.delete(v);
      await writeMasterKeyFile(file, onDisk);
      for (const v of [...ring.keys.keys()]) {
        if (v <= version) {
          ring.keys.get(v)?.fill(0);
          ring.keys.delete(v);
        }
      }
    },
  });
}
