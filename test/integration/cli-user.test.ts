import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieOf, startTestApi, type TestApi } from '../support/api.ts';
import { cliEnvFor, repoRoot, runCli, type CliResult } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/**
 * `tenant create` makes an owner without a password; `user set-password` (password on stdin,
 * never argv) lets that owner sign in to the UI. Real processes against a real database.
 */
let db: TestDatabase;
let api: TestApi;
let env: Record<string, string>;

const SIGN_IN = `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { email currentTenant { role } } }`;

/** `switchyard <args>` with `input` written to its standard input (a pipe, not a TTY). */
function runWithInput(args: string[], input: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/switchyard.js'), ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  env = cliEnvFor(db, { SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
  api = await startTestApi(db, { SWITCHYARD_MASTER_KEY: env.SWITCHYARD_MASTER_KEY! });
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('switchyard user set-password', () => {
  it('lets the owner made by tenant create sign in, with the password read from stdin', async () => {
    const created = await runCli(
      ['tenant', 'create', '--name', 'Cli', '--owner-email', 'Boss@Cli.test', '--json'],
      env,
    );
    expect(created.code).toBe(0);
    const before = await api.gql(SIGN_IN, { e: 'boss@cli.test', p: 'chosen at the terminal' });
    expect(before.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');

    const set = await runWithInput(
      ['user', 'set-password', '--email', 'Boss@Cli.test'],
      'chosen at the terminal\n',
    );
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toBe('Password set for boss@cli.test; 0 session(s) signed out.\n');
    expect(set.stdout).not.toContain('chosen at the terminal');

    const after = await api.gql<{ signIn: { currentTenant: { role: string } } }>(SIGN_IN, {
      e: 'boss@cli.test',
      p: 'chosen at the terminal',
    });
    expect(after.errors).toBeUndefined();
    expect(after.data?.signIn.currentTenant.role).toBe('owner');
    const cookie = cookieOf(after.setCookie);

    // Setting it again signs every session out.
    const again = await runWithInput(
      ['user', 'set-password', '--email', 'boss@cli.test', '--json'],
      'another long password',
    );
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ email: 'boss@cli.test', sessionsEnded: 1 });
    const ended = await api.gql('{ viewer { kind } }', {}, { cookie });
    expect(ended.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
    const audited = await db.ownerPool.query<{ n: number }>(
      `select count(*)::int as n from audit_events where action = 'user.password_set' and actor_kind = 'system'`,
    );
    expect(audited.rows[0]?.n).toBe(2);
  });

  it('never takes the password from argv, and refuses a short one or an unknown email', async () => {
    const argv = await runCli(
      ['user', 'set-password', '--email', 'boss@cli.test', '--password', 'visible in ps'],
      env,
    );
    expect(argv.code).toBe(2);
    expect(argv.stderr).toMatch(/--password/);
    const short = await runWithInput(['user', 'set-password', '--email', 'boss@cli.test'], 'short');
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/E_VALIDATION: Choose a password of at least 10 characters/);
    const unknown = await runWithInput(
      ['user', 'set-password', '--email', 'nobody@cli.test'],
      'a long enough password',
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/E_NOT_FOUND/);
  });
});
