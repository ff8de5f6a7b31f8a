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

describe('switchyard user disable / enable', () => {
  it("takes a user's sign-in, sessions and API tokens away, and gives them back", async () => {
    const created = await runCli(
      ['tenant', 'create', '--name', 'Leaving', '--owner-email', 'leaver@cli.test', '--json'],
      env,
    );
    expect(created.code).toBe(0);
    const { apiToken } = JSON.parse(created.stdout) as { apiToken: string };
    const set = await runWithInput(
      ['user', 'set-password', '--email', 'leaver@cli.test'],
      'a password of the leaver',
    );
    expect(set.code).toBe(0);
    const signIn = () => api.gql(SIGN_IN, { e: 'leaver@cli.test', p: 'a password of the leaver' });
    const signedIn = await signIn();
    expect(signedIn.errors).toBeUndefined();
    const cookie = cookieOf(signedIn.setCookie);
    const VIEWER = '{ viewer { kind currentTenant { name } } }';
    expect((await api.gql(VIEWER, {}, { token: apiToken })).errors).toBeUndefined();

    const disabled = await runCli(['user', 'disable', '--email', 'Leaver@cli.test'], env);
    expect(disabled.stderr).toBe('');
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toMatch(/leaver@cli.test is disabled: 1 session\(s\) signed out/);

    // The session, the token they created and a new sign-in are all refused.
    const bySession = await api.gql(VIEWER, {}, { cookie });
    expect(bySession.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
    const byToken = await api.gql(VIEWER, {}, { token: apiToken });
    expect(byToken.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
    expect((await signIn()).errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');

    // A session row left live (e.g. created between the revoke and the disable) is refused too.
    await db.ownerPool.query(`update sessions set revoked_at = null`);
    const revived = await api.gql(VIEWER, {}, { cookie });
    expect(revived.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');

    const enabled = await runCli(['user', 'enable', '--email', 'leaver@cli.test', '--json'], env);
    expect(enabled.code).toBe(0);
    expect(JSON.parse(enabled.stdout)).toMatchObject({ disabled: false, tenants: 1 });
    const tokenBack = await api.gql<{ viewer: { currentTenant: { name: string } } }>(
      VIEWER,
      {},
      { token: apiToken },
    );
    expect(tokenBack.data?.viewer.currentTenant.name).toBe('Leaving');
    expect((await signIn()).errors).toBeUndefined();

    const audited = await db.ownerPool.query<{ action: string }>(
      `select action from audit_events where action like 'user.%abled' order by seq`,
    );
    expect(audited.rows.map((r) => r.action)).toEqual(['user.disabled', 'user.enabled']);
    // Only the system scope may disable a user: the runtime role (every tenant request) may not.
    await expect(
      db.pool.query(`select set_user_disabled('leaver@cli.test', true)`),
    ).rejects.toThrow(/permission denied/);
    const unknown = await runCli(['user', 'disable', '--email', 'nobody@cli.test'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/E_NOT_FOUND/);
  });
});
