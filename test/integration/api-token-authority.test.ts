import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedTenant } from '../../src/accounts/create-tenant.ts';
import { cookieOf, startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

/**
 * A token acts for its creator: never with more than the creator's current role, and not at
 * all once the creator has left the tenant. Every attack here goes through the real API.
 */
let db: TestDatabase;
let api: TestApi;
let tenant: CreatedTenant;

const ACCEPT = `mutation($t: String!, $p: String) { acceptInvitation(token: $t, password: $p) { userId role } }`;
const SIGN_IN = `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { email } }`;
const CREATE_TOKEN = `mutation($r: Role!) { createApiToken(name: "t", role: $r) { secret token { id } } }`;
const AUDIT = '{ auditEvents(first: 5) { nodes { action } } }';
const PASSWORD = 'a good long password';

/** A member with the role, signed in: their user id and session cookie. */
async function member(email: string, role: string): Promise<{ userId: string; cookie: string }> {
  const invited = await api.gql<{ inviteMember: { token: string } }>(
    `mutation($e: String!, $r: Role!) { inviteMember(email: $e, role: $r) { token } }`,
    { e: email, r: role },
    { token: tenant.apiToken },
  );
  expect(invited.errors).toBeUndefined();
  const accepted = await api.gql<{ acceptInvitation: { userId: string } }>(ACCEPT, {
    t: invited.data!.inviteMember.token,
    p: PASSWORD,
  });
  expect(accepted.errors).toBeUndefined();
  const signedIn = await api.gql(SIGN_IN, { e: email, p: PASSWORD });
  return { userId: accepted.data!.acceptInvitation.userId, cookie: cookieOf(signedIn.setCookie) };
}

async function createToken(
  role: string,
  auth: { cookie?: string; token?: string },
): Promise<{ secret: string; id: string }> {
  const r = await api.gql<{ createApiToken: { secret: string; token: { id: string } } }>(
    CREATE_TOKEN,
    { r: role },
    auth,
  );
  expect(r.errors).toBeUndefined();
  return { secret: r.data!.createApiToken.secret, id: r.data!.createApiToken.token.id };
}

async function setRole(userId: string, role: string): Promise<void> {
  const r = await api.gql(
    `mutation($u: ID!, $r: Role!) { changeMemberRole(userId: $u, role: $r) }`,
    { u: userId, r: role },
    { token: tenant.apiToken },
  );
  expect(r.errors).toBeUndefined();
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  tenant = await makeTenant(db.pool, 'Authority');
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('API tokens act for their creator', () => {
  it('a demoted admin’s token has viewer powers only, and its own tokens too', async () => {
    const admin = await member('demoted@authority.test', 'admin');
    const token = await createToken('admin', { cookie: admin.cookie });
    // A token created by a token acts for the same member.
    const child = await createToken('admin', { token: token.secret });
    expect((await api.gql(AUDIT, {}, { token: token.secret })).errors).toBeUndefined();

    await setRole(admin.userId, 'viewer');
    for (const secret of [token.secret, child.secret]) {
      const viewer = await api.gql<{ viewer: { currentTenant: { role: string } } }>(
        '{ viewer { currentTenant { role } } }',
        {},
        { token: secret },
      );
      expect(viewer.data?.viewer.currentTenant.role).toBe('viewer');
      const audit = await api.gql(AUDIT, {}, { token: secret });
      expect(audit.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
      const minted = await api.gql(CREATE_TOKEN, { r: 'admin' }, { token: secret });
      expect(minted.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
      const invite = await api.gql(
        `mutation { inviteMember(email: "x@authority.test", role: admin) { token } }`,
        {},
        { token: secret },
      );
      expect(invite.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    }
    // Promoted again, the token gets its own role back (never more than it was created with).
    await setRole(admin.userId, 'owner');
    const back = await api.gql<{ viewer: { currentTenant: { role: string } } }>(
      '{ viewer { currentTenant { role } } }',
      {},
      { token: token.secret },
    );
    expect(back.data?.viewer.currentTenant.role).toBe('admin');
    await setRole(admin.userId, 'viewer');
  });

  it('a removed admin’s tokens answer 401 and their session is refused in the tenant, at once', async () => {
    const admin = await member('removed@authority.test', 'admin');
    const token = await createToken('admin', { cookie: admin.cookie });
    const child = await createToken('editor', { token: token.secret });
    expect((await api.gql(AUDIT, {}, { token: token.secret })).errors).toBeUndefined();
    expect((await api.gql(AUDIT, {}, { cookie: admin.cookie })).errors).toBeUndefined();

    const removed = await api.gql(
      `mutation($u: ID!) { removeMember(userId: $u) }`,
      { u: admin.userId },
      { token: tenant.apiToken },
    );
    expect(removed.errors).toBeUndefined();
    for (const secret of [token.secret, child.secret]) {
      const r = await api.gql('{ viewer { kind } }', {}, { token: secret });
      expect(r.status).toBe(401);
      expect(r.errors?.[0]?.extensions?.code).toBe('E_UNAUTHENTICATED');
    }
    const session = await api.gql(AUDIT, {}, { cookie: admin.cookie });
    expect(session.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    const members = await api.gql(
      '{ members(first: 100) { nodes { email } } }',
      {},
      { cookie: admin.cookie },
    );
    expect(members.data).toBeNull();
    expect(members.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
  });

  it('a deleted user’s tokens answer 401', async () => {
    const admin = await member('deleted@authority.test', 'admin');
    const token = await createToken('editor', { cookie: admin.cookie });
    expect((await api.gql('{ viewer { kind } }', {}, { token: token.secret })).status).toBe(200);
    await db.ownerPool.query('delete from users where id = $1', [admin.userId]);
    const r = await api.gql('{ viewer { kind } }', {}, { token: token.secret });
    expect(r.status).toBe(401);
  });

  it('an admin cannot revoke the owner’s token, nor act on tokens above its role', async () => {
    const admin = await member('admin@authority.test', 'admin');
    const adminToken = await createToken('admin', { cookie: admin.cookie });
    const tokens = await api.gql<{ apiTokens: Array<{ id: string; role: string }> }>(
      '{ apiTokens { id role } }',
      {},
      { token: adminToken.secret },
    );
    const ownerTokenId = tenant.apiTokenId;
    expect(tokens.data?.apiTokens.find((t) => t.id === ownerTokenId)?.role).toBe('owner');
    for (const auth of [{ cookie: admin.cookie }, { token: adminToken.secret }]) {
      const r = await api.gql(
        `mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }`,
        { id: ownerTokenId },
        auth,
      );
      expect(r.errors?.[0]?.extensions?.code).toBe('E_ROLE_TOO_HIGH');
    }
    const owner = await api.gql('{ viewer { kind } }', {}, { token: tenant.apiToken });
    expect(owner.status).toBe(200);
    // Its own level is fine.
    const own = await api.gql(
      `mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }`,
      { id: adminToken.id },
      { cookie: admin.cookie },
    );
    expect(own.errors).toBeUndefined();
  });

  it('migration 0008 gives tokens made with a token (no creator recorded) their member back', async () => {
    const made = await createToken('editor', { token: tenant.apiToken });
    // What a token created with a token looked like before: no creator, so now refused.
    await db.ownerPool.query('update api_tokens set created_by = null where id = $1', [made.id]);
    expect((await api.gql('{ viewer { kind } }', {}, { token: made.secret })).status).toBe(401);
    const sql = await readFile(
      path.join(import.meta.dirname, '../../src/db/migrations/0008_token_creators.sql'),
      'utf8',
    );
    const client = await db.ownerPool.connect();
    try {
      await client.query('begin');
      await client.query(sql);
      await client.query('commit');
    } finally {
      client.release();
    }
    const back = await api.gql<{ viewer: { currentTenant: { role: string } } }>(
      '{ viewer { currentTenant { role } } }',
      {},
      { token: made.secret },
    );
    expect(back.data?.viewer.currentTenant.role).toBe('editor');
  });
});
