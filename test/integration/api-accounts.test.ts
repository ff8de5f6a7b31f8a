import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieOf, startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let ownerCookie: string;

const SETUP = `mutation($t: String!, $e: String!, $p: String!) { setup(tenantName: $t, email: $e, password: $p) { email currentTenant { id name role } } }`;
const SIGN_IN = `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { email currentTenant { name role } } }`;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { SIGN_IN_MAX_FAILURES: '3' });
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('accounts over GraphQL', () => {
  it('sets up the first tenant and owner once, and signs the owner in with an HttpOnly cookie', async () => {
    const r = await api.gql<{
      setup: { email: string; currentTenant: { role: string; name: string } };
    }>(SETUP, {
      t: 'Acme',
      e: 'Owner@Acme.test',
      p: 'correct horse battery',
    });
    expect(r.errors).toBeUndefined();
    expect(r.data?.setup).toMatchObject({
      email: 'owner@acme.test',
      currentTenant: { name: 'Acme', role: 'owner' },
    });
    expect(r.setCookie).toMatch(
      /^sy_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/,
    );
    ownerCookie = cookieOf(r.setCookie);
    const again = await api.gql(SETUP, { t: 'Evil', e: 'evil@x.test', p: 'another password' });
    expect(again.errors?.[0]?.extensions?.code).toBe('E_SETUP_DONE');
    const stored = await db.ownerPool.query<{ password_hash: string }>(
      `select password_hash from users where email = 'owner@acme.test'`,
    );
    expect(stored.rows[0]?.password_hash).toMatch(/^\$argon2id\$/);
  });

  it('answers the viewer for the session, and refuses cookie requests without a CSRF-safe header', async () => {
    const me = await api.gql<{ viewer: { email: string } }>(
      '{ viewer { email } }',
      {},
      { cookie: ownerCookie },
    );
    expect(me.data?.viewer.email).toBe('owner@acme.test');
    const res = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', cookie: ownerCookie },
      body: JSON.stringify({ query: '{ viewer { email } }' }),
    });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(body.errors[0]?.extensions.code).toBe('E_CSRF');
  });

  it('refuses a wrong password, audits it, and throttles the account after repeated failures', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await api.gql(SIGN_IN, { e: 'owner@acme.test', p: 'wrong password' });
      expect(r.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
      expect(r.errors?.[0]?.message).toBe('Email or password is wrong.');
    }
    const locked = await api.gql(SIGN_IN, { e: 'owner@acme.test', p: 'correct horse battery' });
    expect(locked.errors?.[0]?.extensions?.code).toBe('E_SIGN_IN_THROTTLED');
    expect(locked.errors?.[0]?.extensions?.retryAfterMs).toBeGreaterThan(0);
    const unknown = await api.gql(SIGN_IN, { e: 'nobody@acme.test', p: 'whatever password' });
    expect(unknown.errors?.[0]?.message).toMatch(
      /Email or password is wrong|Too many failed sign-ins/,
    );
    const audited = await db.ownerPool.query<{ n: number }>(
      `select count(*)::int as n from audit_events where action = 'user.sign_in_failed' and outcome = 'failure'`,
    );
    expect(audited.rows[0]?.n).toBe(3);
  });

  it('creates API tokens shown once, never above the creator’s role, usable until revoked', async () => {
    const created = await api.gql<{
      createApiToken: { secret: string; token: { id: string; prefix: string; role: string } };
    }>(
      `mutation { createApiToken(name: "CI", role: editor) { secret token { id prefix role } } }`,
      {},
      { cookie: ownerCookie },
    );
    expect(created.errors).toBeUndefined();
    const { secret, token } = created.data!.createApiToken;
    expect(secret.startsWith(token.prefix)).toBe(true);
    const listed = await api.gql<{ apiTokens: Array<Record<string, unknown>> }>(
      '{ apiTokens { id name prefix role lastUsedAt } }',
      {},
      { cookie: ownerCookie },
    );
    expect(JSON.stringify(listed.data)).not.toContain(secret);

    const asToken = await api.gql<{ viewer: { kind: string; currentTenant: { role: string } } }>(
      '{ viewer { kind currentTenant { role } } }',
      {},
      { token: secret },
    );
    expect(asToken.data?.viewer).toEqual({ kind: 'token', currentTenant: { role: 'editor' } });
    const tooHigh = await api.gql(
      `mutation { createApiToken(name: "x", role: owner) { secret } }`,
      {},
      { token: secret },
    );
    expect(tooHigh.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');

    await api.flush();
    const used = await api.gql<{ apiTokens: Array<{ id: string; lastUsedAt: string | null }> }>(
      '{ apiTokens { id lastUsedAt } }',
      {},
      { cookie: ownerCookie },
    );
    expect(used.data?.apiTokens.find((t) => t.id === token.id)?.lastUsedAt).not.toBeNull();

    const revoked = await api.gql(
      `mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }`,
      { id: token.id },
      { cookie: ownerCookie },
    );
    expect(revoked.errors).toBeUndefined();
    const after = await api.gql('{ viewer { kind } }', {}, { token: secret });
    expect(after.status).toBe(401);
    expect(after.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
  });

  it('invites by email, accepts once as a new user, and refuses the link a second time', async () => {
    const invited = await api.gql<{
      inviteMember: { token: string; link: string; invitation: { id: string } };
    }>(
      `mutation { inviteMember(email: "Dev@Acme.test", role: editor) { token link invitation { id email role } } }`,
      {},
      { cookie: ownerCookie },
    );
    expect(invited.errors).toBeUndefined();
    const { token, link } = invited.data!.inviteMember;
    expect(link).toContain(token);
    const stored = await db.ownerPool.query<{ token_hash: Buffer }>(
      'select token_hash from invitations',
    );
    expect(JSON.stringify(stored.rows)).not.toContain(token);

    const ACCEPT = `mutation($t: String!, $p: String) { acceptInvitation(token: $t, password: $p) { email role } }`;
    const weak = await api.gql(ACCEPT, { t: token, p: 'short' });
    expect(weak.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'password' });
    const accepted = await api.gql<{ acceptInvitation: { email: string; role: string } }>(ACCEPT, {
      t: token,
      p: 'a good long password',
    });
    expect(accepted.data?.acceptInvitation).toEqual({ email: 'dev@acme.test', role: 'editor' });
    const twice = await api.gql(ACCEPT, { t: token, p: 'a good long password' });
    expect(twice.errors?.[0]?.extensions?.code).toBe('E_INVITATION_INVALID');

    const dev = await api.gql<{ signIn: { currentTenant: { role: string } } }>(SIGN_IN, {
      e: 'dev@acme.test',
      p: 'a good long password',
    });
    expect(dev.errors).toBeUndefined();
    expect(dev.data?.signIn.currentTenant.role).toBe('editor');
    const devCookie = cookieOf(dev.setCookie);
    const cannotInvite = await api.gql(
      `mutation { inviteMember(email: "x@acme.test", role: viewer) { token } }`,
      {},
      { cookie: devCookie },
    );
    expect(cannotInvite.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');

    const actions = await db.ownerPool.query<{ action: string }>(
      `select action from audit_events order by tenant_id, seq`,
    );
    expect(actions.rows.map((r) => r.action)).toEqual(
      expect.arrayContaining([
        'tenant.created',
        'user.signed_in',
        'api_token.created',
        'api_token.revoked',
        'invitation.sent',
        'invitation.accepted',
      ]),
    );
  });

  it('keeps the last owner and lets only owners touch the owner role', async () => {
    const members = await api.gql<{
      members: { nodes: Array<{ userId: string; email: string; role: string }> };
    }>('{ members(first: 100) { nodes { userId email role } } }', {}, { cookie: ownerCookie });
    const owner = members.data!.members.nodes.find((m) => m.role === 'owner')!;
    const demote = await api.gql(
      `mutation($u: ID!) { changeMemberRole(userId: $u, role: admin) }`,
      { u: owner.userId },
      { cookie: ownerCookie },
    );
    expect(demote.errors?.[0]?.extensions?.code).toBe('E_LAST_OWNER');
  });

  it('shows another tenant nothing of this one', async () => {
    const other = await makeTenant(db.pool, 'Other');
    const seen = await api.gql<{
      members: { nodes: Array<{ email: string }> };
      apiTokens: Array<{ name: string }>;
    }>(
      '{ members(first: 100) { nodes { email } } apiTokens { name } }',
      {},
      { token: other.apiToken },
    );
    expect(seen.data?.members.nodes.map((m) => m.email)).toEqual([other.ownerEmail]);
    expect(seen.data?.apiTokens.map((t) => t.name)).toEqual(['First owner token']);
  });

  it('lets a signed-in user accept an invitation to another tenant and switch to it', async () => {
    const second = await makeTenant(db.pool, 'Second');
    const invited = await api.gql<{ inviteMember: { token: string } }>(
      `mutation { inviteMember(email: "owner@acme.test", role: viewer) { token } }`,
      {},
      { token: second.apiToken },
    );
    const token = invited.data!.inviteMember.token;
    const ACCEPT = `mutation($t: String!) { acceptInvitation(token: $t) { email role } }`;
    const anonymous = await api.gql(ACCEPT, { t: token });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
    const accepted = await api.gql<{ acceptInvitation: { role: string } }>(
      ACCEPT,
      { t: token },
      { cookie: ownerCookie },
    );
    expect(accepted.data?.acceptInvitation).toEqual({ email: 'owner@acme.test', role: 'viewer' });

    const mine = await api.gql<{
      viewer: { tenants: Array<{ id: string; name: string; role: string }> };
    }>('{ viewer { tenants { id name role } } }', {}, { cookie: ownerCookie });
    expect(mine.data?.viewer.tenants.map((t) => [t.name, t.role]).sort()).toEqual([
      ['Acme', 'owner'],
      ['Second', 'viewer'],
    ]);
    const switched = await api.gql<{ switchTenant: { name: string; role: string } }>(
      `mutation($id: ID!) { switchTenant(tenantId: $id) { name role } }`,
      { id: second.tenantId },
      { cookie: ownerCookie },
    );
    expect(switched.data?.switchTenant).toEqual({ name: 'Second', role: 'viewer' });
    const asViewer = await api.gql(
      `mutation { createWorkflow(name: "nope") { id } }`,
      {},
      { cookie: ownerCookie },
    );
    expect(asViewer.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    const notMine = await api.gql(
      `mutation($id: ID!) { switchTenant(tenantId: $id) { name } }`,
      { id: (await makeTenant(db.pool, 'Stranger')).tenantId },
      { cookie: ownerCookie },
    );
    expect(notMine.errors?.[0]?.extensions?.code).toBe('E_NOT_FOUND');
    const back = await api.gql(
      `mutation($id: ID!) { switchTenant(tenantId: $id) { name } }`,
      { id: mine.data!.viewer.tenants.find((t) => t.name === 'Acme')!.id },
      { cookie: ownerCookie },
    );
    expect(back.errors).toBeUndefined();
  });

  it('records every operation in the access history', async () => {
    await api.flush();
    const log = await api.gql<{
      accessLog: { nodes: Array<{ operationKind: string; actorKind: string; outcome: string }> };
    }>(
      '{ accessLog(first: 50) { nodes { operationKind actorKind outcome } } }',
      {},
      {
        cookie: ownerCookie,
      },
    );
    expect(log.errors).toBeUndefined();
    expect(log.data!.accessLog.nodes.length).toBeGreaterThan(5);
    expect(log.data!.accessLog.nodes.map((e) => e.actorKind)).toEqual(
      expect.arrayContaining(['user', 'token']),
    );
  });
});
