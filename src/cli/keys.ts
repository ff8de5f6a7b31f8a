import { parseArgs } from 'node:util';
import { openDatabase } from '../db/connect.ts';
import { isUuid, type TenantId } from '../model/ids.ts';
import { reencryptSecrets } from '../security/keys/reencrypt.ts';
import { keyStatus, retireKekVersions, rotateKek } from '../security/keys/rotate.ts';
import { openSecretBox } from '../security/open-secrets.ts';
import { createContext } from './context.ts';
import { UsageError } from './usage.ts';

/**
 * `switchyard keys rotate|reencrypt|retire|status`: the rotation runbook of docs/security.md.
 * Each step is re-runnable and works in small transactions while servers keep serving.
 */
export async function keysCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (!sub || !['rotate', 'reencrypt', 'retire', 'status'].includes(sub))
    throw new UsageError(`Unknown keys command: ${sub ?? '(none)'}`);
  const { values } = parseArgs({
    args: rest,
    options: {
      'no-new-version': { type: 'boolean' },
      tenant: { type: 'string', multiple: true },
      version: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const tenantIds = values.tenant ?? [];
  for (const t of tenantIds) if (!isUuid(t)) throw new UsageError(`Not a tenant id: ${t}`);
  const retireVersion = values.version === undefined ? undefined : Number(values.version);
  if (sub === 'retire' && (!Number.isInteger(retireVersion) || (retireVersion ?? 0) < 1))
    throw new UsageError('keys retire needs --version N (a whole number >= 1)');

  const { config, logger } = createContext({ logsTo: 'stderr', name: 'switchyard-keys' });
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard-keys',
  });
  try {
    const box = await openSecretBox(config.security, {
      dataDir: config.database.dataDir,
      embeddedDatabase: db.embedded,
      logger,
      pool: db.pool,
    });
    const deps = { pool: db.pool, provider: box.provider, logger };
    const print = (human: string, data: unknown) =>
      process.stdout.write(values.json ? `${JSON.stringify(data)}\n` : `${human}\n`);
    switch (sub) {
      case 'rotate': {
        const r = await rotateKek(deps, { newVersion: !values['no-new-version'] });
        const unchanged =
          r.version === r.previousVersion && !values['no-new-version']
            ? ' No new KEK version: with SWITCHYARD_MASTER_KEY, add a higher version to it on every process first (docs/security.md).'
            : '';
        print(
          `KEK ${r.kekId}: version ${r.previousVersion} -> ${r.version}; ${r.dataKeys} data keys of ${r.tenants} tenants re-wrapped.${unchanged}`,
          r,
        );
        break;
      }
      case 'reencrypt': {
        const results = await reencryptSecrets(
          { pool: db.pool, box, logger },
          tenantIds.length > 0 ? { tenantIds: tenantIds as TenantId[] } : {},
        );
        const total = results.reduce((n, r) => n + r.reencrypted, 0);
        print(`${total} secrets of ${results.length} tenants re-encrypted under new data keys.`, {
          tenants: results,
        });
        break;
      }
      case 'retire': {
        const r = await retireKekVersions(deps, { upToVersion: retireVersion! });
        print(
          `KEK ${box.provider.kekId}: versions up to ${retireVersion} retired (${r.retired.join(', ') || 'none recorded'}).`,
          r,
        );
        break;
      }
      case 'status': {
        const s = await keyStatus(deps);
        const lines = [
          `provider ${s.provider}, KEK ${s.kekId}, latest version ${s.latestVersion}`,
          ...s.usage.map(
            (u) => `  ${u.keys} ${u.status} data keys under ${u.kekId} v${u.kekVersion}`,
          ),
        ];
        print(lines.join('\n'), s);
        break;
      }
    }
  } finally {
    await db.close();
  }
}
