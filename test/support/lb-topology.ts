/**
 * The processes of the scale-out tests: Switchyard roles run exactly as in the image
 * (`node bin/switchyard.js <role>`), each killed by its pid and respawned, and Debian's
 * PgBouncer in transaction pooling mode in front of a test PostgreSQL.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { deriveSystemUrl } from '../../src/db/roles.ts';
import { spawnCli } from './cli.ts';
import { freePort } from './free-port.ts';

export type Role = 'api' | 'worker' | 'scheduler';

export type RoleProcess = {
  role: Role;
  /** The HTTP port of an `api` process (the load balancer's backend); 0 for the others. */
  port: number;
  child: ChildProcess;
  /** Exits not caused by the test's own SIGKILL or SIGTERM (a crash). */
  unexpectedExits: string[];
  /** Last lines of stderr, for the failure message of a crash. */
  stderrTail: string[];
  kill(signal: NodeJS.Signals): Promise<void>;
  respawn(): void;
};

export function spawnRole(role: Role, env: Record<string, string>, port = 0): RoleProcess {
  const proc: RoleProcess = {
    role,
    port,
    child: undefined as unknown as ChildProcess,
    unexpectedExits: [],
    stderrTail: [],
    async kill(signal) {
      const child = proc.child;
      if (child.exitCode !== null || child.signalCode !== null) return;
      (child as ChildProcess & { expected?: boolean }).expected = true;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      process.kill(child.pid!, signal);
      await exited;
    },
    respawn() {
      const child = spawnCli([role], port ? { ...env, PORT: String(port) } : env);
      // SCALE_OUT_LOG_DIR=/some/dir keeps every process's output there, for a failure's why.
      const logDir = process.env.SCALE_OUT_LOG_DIR;
      if (logDir) {
        const log = createWriteStream(path.join(logDir, `${role}-${child.pid}.log`));
        child.stdout?.pipe(log);
        child.stderr?.on('data', (d: Buffer) => log.write(d));
      } else child.stdout?.resume();
      child.stderr?.on('data', (d: Buffer) => {
        proc.stderrTail.push(...d.toString().split('\n').filter(Boolean));
        proc.stderrTail.splice(0, Math.max(0, proc.stderrTail.length - 20));
      });
      child.once('exit', (code, signal) => {
        if (!(child as ChildProcess & { expected?: boolean }).expected)
          proc.unexpectedExits.push(
            `${role} pid ${child.pid} exited (${code ?? signal}): ${proc.stderrTail.join(' | ')}`,
          );
      });
      proc.child = child;
    },
  };
  proc.respawn();
  return proc;
}

export const isAlive = (p: RoleProcess) => p.child.exitCode === null && p.child.signalCode === null;

export type PgBouncer = { port: number; stop(): Promise<void> };

/**
 * PgBouncer (pool_mode = transaction) on 127.0.0.1 in front of `pgPort`, for one login role.
 * It refuses to run as root, so it runs as `postgres` (the OS user of the test clusters).
 */
export async function startPgBouncer(p: {
  pgPort: number;
  database: string;
  user: string;
  password: string;
  poolSize: number;
}): Promise<PgBouncer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-pgbouncer-'));
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  const userlist = path.join(dir, 'userlist.txt');
  // The system role (claims, cron, webhook routing) connects through the pooler too.
  const system = new URL(
    deriveSystemUrl(
      `postgres://${encodeURIComponent(p.user)}:${encodeURIComponent(p.password)}@h/d`,
    ),
  );
  await writeFile(
    userlist,
    `"${p.user}" "${p.password}"\n"${decodeURIComponent(system.username)}" "${decodeURIComponent(system.password)}"\n`,
    { mode: 0o600 },
  );
  await writeFile(
    ini,
    [
      '[databases]',
      `${p.database} = host=127.0.0.1 port=${p.pgPort} dbname=${p.database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      "unix_socket_dir = ''",
      'auth_type = scram-sha-256',
      `auth_file = ${userlist}`,
      'pool_mode = transaction',
      `default_pool_size = ${p.poolSize}`,
      'max_client_conn = 500',
      // node-postgres sends these at start-up; PgBouncer tracks application_name itself.
      'ignore_startup_parameters = extra_float_digits,options',
      'server_reset_query =',
      'server_check_delay = 1',
      'server_login_retry = 1',
      `logfile = ${path.join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  for (const f of [dir, ini, userlist]) await chown(f, ...postgresIds());
  await chmod(dir, 0o700);
  const child = spawn('/usr/sbin/pgbouncer', ['-u', 'postgres', ini], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitForPort(port, 10_000, () => stderr);
  return {
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        process.kill(child.pid!, 'SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function postgresIds(): [number, number] {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return [uid, gid];
}

async function waitForPort(port: number, timeoutMs: number, why: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`PgBouncer did not listen on ${port}: ${why() || '(no output)'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Makes `database` owned by a new login role `switchyard_owner` with CREATEROLE and without
 * superuser (what managed PostgreSQL services give), and returns its URL.
 */
export async function makeNonSuperuserOwner(
  superuserUrl: string,
  database: string,
): Promise<string> {
  const password = randomBytes(18).toString('base64url');
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    await client.query(
      `create role switchyard_owner login createrole nosuperuser password '${password}'`,
    );
    await client.query(`alter database ${database} owner to switchyard_owner`);
  } finally {
    await client.end();
  }
  const url = new URL(superuserUrl);
  url.username = 'switchyard_owner';
  url.password = password;
  return url.toString();
}
