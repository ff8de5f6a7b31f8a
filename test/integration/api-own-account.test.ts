/**
 * A signed-in user's own account: their live sessions (this one marked), a password change that
 * checks the current password and signs out every other session, "sign out other sessions", each
 * audited; an API token has neither a password nor sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieOf, startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
let api: TestApi;
const EMAIL = 'me@acme.test';
const PASSWORD = 'first long password';
const SIGN_IN = `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { email } }`;
const SESSIONS = `{ mySessions { id current userAgent ip lastSeenAt } }`;
const CHANGE = `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`;

async function signIn(password: string, agent: string): Promise<string> {
  const res = await api.gql(
    SIGN_IN,
    { e: EMAIL, p: password },
    { headers: { 'user-agent': agent } },
  );
  expect(res.errors).toBeUndefined();
  return cookieOf(res.setCookie);
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  const setup = await api.gql(
    `mutation($e: String!, $p: String!) { setup(tenantName: "Acme", email: $e, password: $p) { kind } }`,
    { e: EMAIL, p: PASSWORD },
  );
  expect(setup.errors).toBeUndefined();
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('own account', () => {
  it('lists the live sessions, changes the password and ends the other sessions', async () => {
    const laptop = await signIn(PASSWORD, 'Laptop browser');
    const phone = await signIn(PASSWORD, 'Phone browser');
    const seen = await api.gql<{ mySessions: { current: boolean; userAgent: string }[] }>(
      SESSIONS,
      {},
      { cookie: laptop },
    );
    expect(seen.errors).toBeUndefined();
    const mine = seen.data!.mySessions;
    expect(mine.filter((s) => s.current).map((s) => s.userAgent)).toEqual(['Laptop browser']);
    expect(mine.map((s) => s.userAgent)).toEqual(expect.arrayContaining(['Phone browser']));

    const wrong = await api.gql(
      CHANGE,
      { c: 'not my password', n: 'a new long password' },
      { cookie: laptop },
    );
    expect(wrong.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'currentPassword',
    });
    const short = await api.gql(CHANGE, { c: PASSWORD, n: 'short' }, { cookie: laptop });
    expect(short.errors?.[0]?.extensions).toMatchObject({
      code: 'E_VALIDATION',
      field: 'newPassword',
    });
    // Neither changed anything: the phone is still signed in.
    expect((await api.gql(SESSIONS, {}, { cookie: phone })).errors).toBeUndefined();

    const changed = await api.gql<{ changePassword: number }>(
      CHANGE,
      { c: PASSWORD, n: 'a new long password' },
      { cookie: laptop },
    );
    expect(changed.errors).toBeUndefined();
    expect(changed.data!.changePassword).toBeGreaterThanOrEqual(2); // the phone and setup's
    expect((await api.gql(SESSIONS, {}, { cookie: phone })).errors?.[0]?.extensions?.code).toBe(
      'E_UNAUTHENTICATED',
    );
    const still = await api.gql<{ mySessions: unknown[] }>(SESSIONS, {}, { cookie: laptop });
    expect(still.data!.mySessions).toHaveLength(1);
    expect((await api.gql(SIGN_IN, { e: EMAIL, p: PASSWORD })).errors?.[0]?.extensions?.code).toBe(
      'E_UNAUTHENTICATED',
    );
    const again = await signIn('a new long password', 'Tablet browser');

    // Sign out the others from the tablet: the laptop's session ends, the tablet's stays.
    const out = await api.gql<{ signOutOtherSessions: number }>(
      'mutation { signOutOtherSessions }',
      {},
      { cookie: again },
    );
    expect(out.data!.signOutOtherSessions).toBe(1);
    expect((await api.gql(SESSIONS, {}, { cookie: laptop })).errors?.[0]?.extensions?.code).toBe(
      'E_UNAUTHENTICATED',
    );
    expect((await api.gql(SESSIONS, {}, { cookie: again })).errors).toBeUndefined();

    const audit = await db.ownerPool.query<{ action: string; metadata: { sessionsEnded: number } }>(
      `select action, metadata from audit_events where action in ('user.password_changed', 'user.sessions_revoked') order by seq`,
    );
    expect(audit.rows.map((r) => r.action)).toEqual([
      'user.password_changed',
      'user.sessions_revoked',
    ]);
    expect(audit.rows[1]!.metadata.sessionsEnded).toBe(1);
  });

  it('refuses an API token: it has no password and no sessions', async () => {
    const cookie = await signIn('a new long password', 'Script');
    const token = await api.gql<{ createApiToken: { secret: string } }>(
      `mutation { createApiToken(name: "ci", role: admin) { secret } }`,
      {},
      { cookie },
    );
    const secret = token.data!.createApiToken.secret;
    const sessions = await api.gql(SESSIONS, {}, { token: secret });
    expect(sessions.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    const change = await api.gql(
      CHANGE,
      { c: 'a new long password', n: 'another long one' },
      { token: secret },
    );
    expect(change.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
  });
});
