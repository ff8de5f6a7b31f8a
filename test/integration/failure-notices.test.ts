/**
 * Failure notices end to end with a real SMTP server and a real HTTP receiver: configured over
 * GraphQL (audited, the webhook's signing secret shown once), failed and dead runs found in the
 * database by the notifier's pass, one notice per interval with the count since the last, an
 * email and a signed Slack-style `{ text }` POST through the gate, a failing receiver retried
 * with backoff; a tenant-wide notice also names the OAuth connections that need connecting again.
 */
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotifier, type Notifier } from '../../src/accounts/failure-notices.ts';
import { createSmtpMailer } from '../../src/accounts/mailer.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { createGate } from '../../src/runner/gate/gate.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { gateConfig } from '../support/runner-harness.ts';
import { startServer, type LocalServer } from '../support/runner-servers.ts';

let db: TestDatabase;
let api: TestApi;
let smtp: SMTPServer;
let receiver: LocalServer;
let receiverStatus = 200;
let tenantId: TenantId;
let token: string;
let wf: { workflowId: string; versionId: string };
let notifier: Notifier;
let now = Date.now();
const mails: { to: string[]; data: string }[] = [];

async function gql<T>(query: string, variables: Record<string, unknown> = {}) {
  const res = await api.gql<T>(query, variables, { token });
  expect(res.errors, query).toBeUndefined();
  return res.data!;
}

/** `n` runs of the workflow that ended with `status` a second ago (by the test's clock). */
async function failures(n: number, status: 'failed' | 'dead'): Promise<void> {
  now += 2_000;
  await db.ownerPool.query(
    `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, status, created_at, finished_at)
     select $1, $2, $3, $4, $5::timestamptz - interval '1 minute', $5::timestamptz - interval '1 second'
       from generate_series(1, $6)`,
    [tenantId, wf.workflowId, wf.versionId, status, new Date(now), n],
  );
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      let data = '';
      stream.on('data', (c: Buffer) => (data += c.toString()));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), data });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  receiver = await startServer((_req, res) => {
    res.writeHead(receiverStatus).end();
  });
  const t = await makeTenant(db.pool, 'Notified');
  tenantId = t.tenantId;
  token = t.apiToken;
  wf = await makeWorkflow(db.pool, tenantId, [
    { id: 'a', actionId: await makeAction(db.pool, tenantId) },
  ]);
  const gate = createGate(gateConfig([receiver.hostPort]));
  notifier = createNotifier({
    pool: db.pool,
    secrets: api.secrets,
    mailer: createSmtpMailer({
      url: `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`,
      from: 'Switchyard <alerts@switchyard.test>',
      timeoutMs: 5_000,
    }),
    post: async (r) => gate.request({ method: 'POST', ...r }),
    publicUrl: 'https://switchyard.example.test',
    logger: testLogger,
    clock: { now: () => new Date(now) },
  });
});
afterAll(async () => {
  await api.close();
  await receiver.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  await db.drop();
});

describe('failure notices', () => {
  it('emails and posts one signed notice per interval with the count since the last', async () => {
    await gql(
      `mutation($i: FailureNotificationInput!) { createFailureNotification(input: $i) { notification { id } } }`,
      {
        i: {
          workflowId: wf.workflowId,
          channel: 'EMAIL',
          target: 'oncall@acme.test',
          minIntervalMinutes: 10,
        },
      },
    );
    const hook = await gql<{
      createFailureNotification: { signingSecret: string; notification: { id: string } };
    }>(
      `mutation($i: FailureNotificationInput!) { createFailureNotification(input: $i) {
        signingSecret notification { id } } }`,
      {
        i: {
          channel: 'WEBHOOK',
          target: `http://${receiver.hostPort}/hooks/slack`,
          minIntervalMinutes: 10,
        },
      },
    );
    const secret = hook.createFailureNotification.signingSecret;
    expect(secret).toMatch(/^whsec_/);

    // Nothing failed yet: nothing is sent. (The test's clock starts after the notifications
    // were made: their counting starts at their creation.)
    now = Date.now() + 2_000;
    await notifier.tick();
    expect(mails).toHaveLength(0);
    expect(receiver.requests).toHaveLength(0);

    await failures(2, 'dead');
    await failures(1, 'failed');
    await notifier.tick();
    expect(mails).toHaveLength(1);
    expect(mails[0]!.to).toEqual(['oncall@acme.test']);
    expect(mails[0]!.data).toContain('3 runs of =E2=80=9CTest workflow=E2=80=9D failed');
    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0]!;
    const body = JSON.parse(req.body) as { text: string; count: number };
    expect(body.count).toBe(3);
    expect(body.text).toMatch(
      /^Switchyard: 3 runs failed since .*https:\/\/switchyard\.example\.test\/failures$/,
    );
    const sig = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(req.headers['x-switchyard-signature']))!;
    expect(sig[2]).toBe(createHmac('sha256', secret).update(`${sig[1]}.${req.body}`).digest('hex'));

    // Two more within the interval: no notice yet; once it has passed, one notice counts both.
    await failures(2, 'dead');
    now += 5 * 60_000;
    await notifier.tick();
    expect(mails).toHaveLength(1);
    now += 6 * 60_000;
    await notifier.tick();
    expect(mails).toHaveLength(2);
    expect(mails[1]!.data).toContain('2 runs of');
    expect(receiver.requests).toHaveLength(2);

    const audit = await db.ownerPool.query<{ action: string }>(
      `select action from audit_events where tenant_id = $1 and action like 'failure_notification.%' order by seq`,
      [tenantId],
    );
    expect(audit.rows.map((r) => r.action)).toEqual([
      'failure_notification.created',
      'failure_notification.created',
      'failure_notification.queued',
      'failure_notification.queued',
      'failure_notification.queued',
      'failure_notification.queued',
    ]);
  });

  it('retries a receiver that fails, with backoff, and shows the error meanwhile', async () => {
    receiverStatus = 503;
    await failures(1, 'dead');
    now += 11 * 60_000;
    await notifier.tick();
    expect(receiver.requests).toHaveLength(3);
    const listed = await gql<{
      failureNotifications: { channel: string; lastError: string | null; pending: number }[];
    }>(`{ failureNotifications { channel lastError pending } }`);
    expect(listed.failureNotifications.find((n) => n.channel === 'WEBHOOK')).toEqual({
      channel: 'WEBHOOK',
      lastError: 'the webhook answered HTTP 503',
      pending: 1,
    });
    // Not before its backoff (30 s), then delivered.
    receiverStatus = 200;
    now += 10_000;
    await notifier.tick();
    expect(receiver.requests).toHaveLength(3);
    now += 30_000;
    await notifier.tick();
    expect(receiver.requests).toHaveLength(4);
    const after = await gql<{ failureNotifications: { channel: string; pending: number }[] }>(
      `{ failureNotifications { channel pending } }`,
    );
    expect(after.failureNotifications.every((n) => n.pending === 0)).toBe(true);
  });

  it('tells a tenant-wide notification of an OAuth connection that needs connecting again', async () => {
    now += 11 * 60_000;
    await db.ownerPool.query(
      `insert into audit_events (tenant_id, actor_kind, actor_id, action, target_kind, target_id, occurred_at, prev_hash, hash)
       values ($1::uuid, 'system', 'oauth', 'connection.needs_reauth', 'connection', 'conn-1', $2, '\\x', '\\x')`,
      [tenantId, new Date(now - 1_000)],
    );
    const mailsBefore = mails.length;
    const posts = receiver.requests.length;
    await notifier.tick();
    // The webhook is for every workflow: it hears of it; the email is for one workflow: not.
    expect(mails).toHaveLength(mailsBefore);
    expect(receiver.requests).toHaveLength(posts + 1);
    const body = JSON.parse(receiver.requests[posts]!.body) as {
      text: string;
      count: number;
      connectionsNeedingReauth: string[];
    };
    expect(body).toMatchObject({ count: 0, connectionsNeedingReauth: ['conn-1'] });
    expect(body.text).toBe(
      'Switchyard: 1 connection needs to be connected again (an OAuth refresh was refused). See https://switchyard.example.test/connections',
    );
    // Counted once.
    now += 11 * 60_000;
    await notifier.tick();
    expect(receiver.requests).toHaveLength(posts + 1);
  });

  it('refuses a bad address, a URL with credentials and an interval out of range, on their fields', async () => {
    const create = (i: Record<string, unknown>) =>
      api.gql(
        `mutation($i: FailureNotificationInput!) { createFailureNotification(input: $i) { signingSecret } }`,
        { i },
        { token },
      );
    expect(
      (await create({ channel: 'EMAIL', target: 'not-an-address' })).errors?.[0]?.extensions,
    ).toMatchObject({
      code: 'E_VALIDATION',
      field: 'target',
    });
    expect(
      (await create({ channel: 'WEBHOOK', target: 'https://u:p@hooks.example.test/x' })).errors?.[0]
        ?.extensions,
    ).toMatchObject({ code: 'E_VALIDATION', field: 'target' });
    expect(
      (await create({ channel: 'EMAIL', target: 'a@b.test', minIntervalMinutes: 0 })).errors?.[0]
        ?.extensions,
    ).toMatchObject({ code: 'E_VALIDATION', field: 'minIntervalMinutes' });
  });

  it('sends no notice to an address the gate refuses (cloud metadata), and says why', async () => {
    await gql(
      `mutation($i: FailureNotificationInput!) { createFailureNotification(input: $i) { notification { id } } }`,
      {
        i: {
          workflowId: wf.workflowId,
          channel: 'WEBHOOK',
          target: 'http://169.254.169.254/latest/meta-data/',
          minIntervalMinutes: 1,
        },
      },
    );
    await failures(1, 'failed');
    now += 2 * 60_000;
    await notifier.tick();
    const listed = await gql<{
      failureNotifications: {
        target: string;
        lastError: string | null;
        lastDeliveredAt: string | null;
      }[];
    }>(`{ failureNotifications { target lastError lastDeliveredAt } }`);
    const metadata = listed.failureNotifications.find((n) => n.target.includes('169.254'))!;
    expect(metadata.lastDeliveredAt).toBeNull();
    expect(metadata.lastError).toMatch(/gate|blocked|not allowed|refused/i);
  });
});
