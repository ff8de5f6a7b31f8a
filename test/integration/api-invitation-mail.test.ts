/** Invitations by mail: with SMTP_URL set the link goes to the invitee, not to the inviter. */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { freePort } from '../support/free-port.ts';

type Received = { from: string; to: string[]; data: string };

let db: TestDatabase;
let api: TestApi;
let smtp: SMTPServer;
const received: Received[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      let data = '';
      stream.on('data', (c: Buffer) => (data += c.toString()));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const port = (smtp.server.address() as AddressInfo).port;
  api = await startTestApi(db, {
    SMTP_URL: `smtp://127.0.0.1:${port}`,
    SMTP_FROM: 'Switchyard <invites@switchyard.test>',
  });
});

afterAll(async () => {
  await api.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  await db.drop();
});

describe('invitation mail', () => {
  it('sends the link to the invitee and shows the inviter no secret', async () => {
    const owner = await makeTenant(db.pool, 'Mail');
    const r = await api.gql<{
      inviteMember: { emailed: boolean; token: string | null; link: string | null };
    }>(
      `mutation { inviteMember(email: "New.Person@mail.test", role: editor) { emailed token link invitation { email } } }`,
      {},
      { token: owner.apiToken },
    );
    expect(r.errors).toBeUndefined();
    expect(r.data?.inviteMember).toMatchObject({ emailed: true, token: null, link: null });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      from: 'invites@switchyard.test',
      to: ['new.person@mail.test'],
    });
    const token = /#(syi_[A-Za-z0-9_-]{65})/.exec(received[0]!.data.replace(/=\r?\n/g, ''))?.[1];
    expect(token).toBeDefined();
    const accepted = await api.gql<{ acceptInvitation: { role: string } }>(
      `mutation($t: String!, $p: String) { acceptInvitation(token: $t, password: $p) { role } }`,
      { t: token, p: 'a long enough password' },
    );
    expect(accepted.data?.acceptInvitation.role).toBe('editor');
  });

  it('creates no invitation when the mail server cannot be reached', async () => {
    const down = await startTestApi(db, {
      SMTP_URL: `smtp://127.0.0.1:${await freePort()}`,
      SMTP_TIMEOUT_MS: '2000',
    });
    try {
      const owner = await makeTenant(db.pool, 'Mail down');
      const r = await down.gql(
        `mutation { inviteMember(email: "x@mail.test", role: viewer) { emailed } }`,
        {},
        { token: owner.apiToken },
      );
      expect(r.errors?.[0]?.extensions).toMatchObject({
        code: 'E_MAIL_UNAVAILABLE',
        retryable: true,
      });
      const rows = await db.ownerPool.query('select 1 from invitations where tenant_id = $1', [
        owner.tenantId,
      ]);
      expect(rows.rowCount).toBe(0);
    } finally {
      await down.close();
    }
  });
});
