import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SwitchyardError } from '../model/errors.ts';
import { startupClient } from './pool.ts';
import type { Logger } from '../observability/logger.ts';

export const migrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url));

export type Migration = { version: number; name: string; sql: string; checksum: string };

/**
 * Checksums of earlier texts of a migration that a database may have applied and that are
 * still accepted, because the edit changed nothing a later migration does not also bring about.
 * An entry needs a reason here and a forward migration that converges both texts:
 * - 0006: its first text put `set switchyard.audit_purge = 'on'` in purge_audit_events()'s SET
 *   clause, which only a superuser may create; a managed PostgreSQL owner could not migrate.
 *   0006 now sets it in the body, and 0007 replaces the function in databases that applied the
 *   first text (docs/adr/0008-system-scope.md).
 */
export const acceptedEarlierChecksums: ReadonlyMap<number, readonly string[]> = new Map([
  [6, ['7d0b9c43ce147f6211a84e96c8e735e05bb40a126dcd40e7145e5d4358d30da1']],
]);

/** Key of the session advisory lock that serialises migrators (any 64-bit constant will do). */
const MIGRATION_LOCK_KEY = 7_242_016_001;

export async function readMigrations(dir = migrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const sql = await readFile(path.join(dir, file), 'utf8');
    migrations.push({
      version: Number.parseInt(file.slice(0, 4), 10),
      name: file.replace(/\.sql$/, ''),
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  migrations.forEach((m, i) => {
    if (migrations[i - 1]?.version === m.version) {
      throw new Error(`Two migrations are numbered ${m.version}: rename one of them`);
    }
  });
  return migrations;
}

export type MigrationStatus = { applied: number; latest: number; pending: string[] };

/**
 * Applies pending migrations, each in its own transaction, under an advisory lock so that any
 * number of processes starting at once are safe: the first applies, the others wait and then
 * find nothing to do. An applied migration whose file changed is refused.
 */
export async function migrate(
  ownerUrl: string,
  opts: { logger: Logger; dir?: string },
): Promise<{ applied: string[] }> {
  const migrations = await readMigrations(opts.dir);
  const client = startupClient({
    connectionString: ownerUrl,
    application_name: 'switchyard-migrate',
  });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`
      create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`);
    const done = await appliedMigrations(client);
    verifyApplied(migrations, done);
    const latestApplied = Math.max(0, ...done.keys());
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      if (m.version < latestApplied) {
        throw new SwitchyardError(
          'E_MIGRATION_UNKNOWN',
          `Migration ${m.name} is older than the latest applied migration (${latestApplied}); migrations apply in order only. Renumber it after ${latestApplied}.`,
          { migration: m.name },
        );
      }
      await client.query('begin');
      try {
        await client.query(m.sql);
        await client.query(
          'insert into schema_migrations (version, name, checksum) values ($1, $2, $3)',
          [m.version, m.name, m.checksum],
        );
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new Error(`Migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      opts.logger.info({ migration: m.name }, 'migration applied');
      applied.push(m.name);
    }
    return { applied };
  } finally {
    await client
      .query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
      .catch(() => undefined);
    await client.end();
  }
}

/** For readiness: are all migrations this build knows applied, and nothing unknown? */
export async function migrationStatus(
  db: Pick<pg.Pool, 'query'>,
  migrations: Migration[],
): Promise<MigrationStatus> {
  const res = await db.query<{ version: number }>(
    `select version from schema_migrations order by version`,
  );
  const applied = new Set(res.rows.map((r) => r.version));
  return {
    applied: applied.size,
    latest: migrations.length,
    pending: migrations.filter((m) => !applied.has(m.version)).map((m) => m.name),
  };
}

async function appliedMigrations(
  client: pg.Client,
): Promise<Map<number, { name: string; checksum: string }>> {
  const res = await client.query<{ version: number; name: string; checksum: string }>(
    'select version, name, checksum from schema_migrations order by version',
  );
  return new Map(res.rows.map((r) => [r.version, { name: r.name, checksum: r.checksum }]));
}

function verifyApplied(
  migrations: Migration[],
  done: Map<number, { name: string; checksum: string }>,
): void {
  const known = new Map(migrations.map((m) => [m.version, m]));
  for (const [version, row] of done) {
    const m = known.get(version);
    if (!m) {
      throw new SwitchyardError(
        'E_MIGRATION_UNKNOWN',
        `The database has migration ${row.name}, which this build does not know: it was migrated by a newer Switchyard. Run that version, or restore a backup.`,
        { migration: row.name },
      );
    }
    if (
      m.checksum !== row.checksum &&
      !acceptedEarlierChecksums.get(version)?.includes(row.checksum)
    ) {
      throw new SwitchyardError(
        'E_MIGRATION_EDITED',
        `Migration ${m.name} was changed after it was applied (checksum ${row.checksum.slice(0, 12)} in the database, ${m.checksum.slice(0, 12)} on disk). Migrations are forward-only: restore the file and add a new migration instead.`,
        { migration: m.name },
      );
    }
  }
}
