/**
 * Resuming a waitForEvent step through the real API (resumeRun and the resume webhook) over a
 * run left as the engine leaves a wait: its StepRun `waiting`, its job pending until the
 * deadline. The resume resolves the StepRun with the payload, makes the job due now, audits;
 * a second resume, one after the timeout and one before the wait began say so; a token opens
 * only its run, step and tenant; a viewer cannot use the mutation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { RunId, TenantId, WorkflowId } from '../../src/model/ids.ts';
import { createWaitTokens } from '../../src/security/wait-tokens.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let tenantId: TenantId;
let ownerToken: string;
let otherOwnerToken: string;
let viewerToken: string;
let workflowId: WorkflowId;

const RESUME = `mutation($runId: ID!, $token: String!, $payload: JSON) {
  resumeRun(runId: $runId, token: $token, payload: $payload) { id status }
}`;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, {
    PUBLIC_URL: 'https://switchyard.example.test',
    WEBHOOK_MAX_BODY_BYTES: '20000',
  });
  const t = await makeTenant(db.pool);
  tenantId = t.tenantId;
  ownerToken = t.apiToken;
  otherOwnerToken = (await makeTenant(db.pool)).apiToken;
  const created = await api.gql<{ createApiToken: { secret: string } }>(
    `mutation { createApiToken(name: "ro", role: viewer) { secret } }`,
    {},
    { token: ownerToken },
  );
  viewerToken = created.data!.createApiToken.secret;
  const actionId = await makeAction(db.pool, tenantId);
  workflowId = (await makeWorkflow(db.pool, tenantId, [{ id: 'ask', actionId }])).workflowId;
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

/** A run waiting at step `approve` (pc 1) until an hour from now, as the engine leaves it. */
async function waitingRun(opts: { reached?: boolean } = {}): Promise<RunId> {
  const { runId } = await api.engine.startRun({ tenantId, workflowId, input: {} });
  await db.ownerPool.query(
    `update jobs set step_index = 1, status = 'waiting', run_at = now() + interval '1 hour' where run_id = $1`,
    [runId],
  );
  await db.ownerPool.query(`update workflow_runs set status = 'waiting' where id = $1`, [runId]);
  if (opts.reached !== false)
    await db.ownerPool.query(
      `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, started_at, wait_until)
       values ($1, $2, 'approve', 1, 1, 'waiting', now(), now() + interval '1 hour')`,
      [tenantId, runId],
    );
  return runId;
}

async function linkOf(runId: RunId, stepId = 'approve', tenant = tenantId) {
  const tokens = createWaitTokens({ secretBox: api.secrets, publicUrl: 'https://x.test' });
  const links = await withTenant(db.pool, tenant, (c) =>
    tokens.linksFor(c, { tenantId: tenant, runId }, [stepId]),
  );
  return links[stepId]!;
}

async function stepOf(runId: RunId) {
  const r = await db.ownerPool.query<{
    status: string;
    output: unknown;
    error_code: string | null;
  }>(`select status, output, error_code from step_runs where run_id = $1 and step_id = 'approve'`, [
    runId,
  ]);
  return r.rows[0];
}

async function jobDueIn(runId: RunId): Promise<number> {
  const r = await db.ownerPool.query<{ s: number }>(
    `select case when status = 'pending' then extract(epoch from run_at - now())::float8 else 1e9 end as s
       from jobs where run_id = $1`,
    [runId],
  );
  return r.rows[0]!.s;
}

describe('resumeRun', () => {
  it('resolves the waiting step with the payload, wakes the job and audits; a second resume is refused', async () => {
    const runId = await waitingRun();
    const { token, url } = await linkOf(runId);
    expect(token).toMatch(/^syw_approve\.[A-Za-z0-9_-]{87}$/);
    expect(url).toBe(`https://x.test/v1/runs/${runId}/waits/approve/resume`);
    expect(await jobDueIn(runId)).toBeGreaterThan(3000);
    const res = await api.gql(
      RESUME,
      { runId, token, payload: { approved: true, echo: token } },
      { token: ownerToken },
    );
    expect(res.errors).toBeUndefined();
    expect(await stepOf(runId)).toEqual({
      status: 'succeeded',
      output: { approved: true, echo: '[redacted]' },
      error_code: null,
    });
    expect(await jobDueIn(runId)).toBeLessThanOrEqual(0);
    const audit = await db.ownerPool.query<{ metadata: { stepId: string } }>(
      `select metadata from audit_events where tenant_id = $1 and action = 'run.resumed' and target_id = $2`,
      [tenantId, runId],
    );
    expect(audit.rows.map((r) => r.metadata.stepId)).toEqual(['approve']);
    const again = await api.gql(RESUME, { runId, token, payload: 2 }, { token: ownerToken });
    expect(again.errors?.[0]?.extensions?.code).toBe('E_WAIT_NOT_WAITING');
    expect(again.errors?.[0]?.message).toContain('resumed already');
    expect((await stepOf(runId))?.output).toEqual({ approved: true, echo: '[redacted]' });
  });

  it('a token opens only its run, step and tenant; a viewer may not resume', async () => {
    const runId = await waitingRun();
    const other = await waitingRun();
    const code = async (token: string, asToken = ownerToken, run = runId) =>
      (await api.gql(RESUME, { runId: run, token, payload: {} }, { token: asToken })).errors?.[0]
        ?.extensions?.code;
    const right = (await linkOf(runId)).token;
    expect(await code((await linkOf(other)).token)).toBe('E_WAIT_TOKEN_INVALID');
    // The token of another step of this run is that step's: this run never reaches it.
    expect(await code((await linkOf(runId, 'other_step')).token)).toBe('E_WAIT_NOT_STARTED');
    expect(await code(right.slice(0, -2) + (right.endsWith('AA') ? 'BA' : 'AA'))).toBe(
      'E_WAIT_TOKEN_INVALID',
    );
    expect(await code('syw_approve.nope')).toBe('E_WAIT_TOKEN_INVALID');
    expect(await code(right, otherOwnerToken)).toBe('E_WAIT_TOKEN_INVALID');
    expect(await code(right, viewerToken)).toBe('E_FORBIDDEN');
    // The token of the same run id under another tenant's key does not open it either.
    const stranger = await makeTenant(db.pool);
    expect(await code((await linkOf(runId, 'approve', stranger.tenantId)).token)).toBe(
      'E_WAIT_TOKEN_INVALID',
    );
    expect((await stepOf(runId))?.status).toBe('waiting');
    expect(await code(right)).toBeUndefined();
  });

  it('before the wait began: retry; after its timeout: not waiting; too large: 413', async () => {
    const early = await waitingRun({ reached: false });
    const e = await api.gql(
      RESUME,
      { runId: early, token: (await linkOf(early)).token },
      { token: ownerToken },
    );
    expect(e.errors?.[0]?.extensions?.code).toBe('E_WAIT_NOT_STARTED');
    const late = await waitingRun();
    await db.ownerPool.query(
      `update step_runs set status = 'failed', error_code = 'E_WAIT_TIMEOUT', finished_at = now() where run_id = $1`,
      [late],
    );
    const l = await api.gql(
      RESUME,
      { runId: late, token: (await linkOf(late)).token },
      { token: ownerToken },
    );
    expect(l.errors?.[0]?.extensions?.code).toBe('E_WAIT_NOT_WAITING');
    expect(l.errors?.[0]?.message).toContain('timed out');
    const big = await waitingRun();
    const b = await api.gql(
      RESUME,
      { runId: big, token: (await linkOf(big)).token, payload: 'x'.repeat(30_000) },
      { token: ownerToken },
    );
    expect(b.errors?.[0]?.extensions?.code).toBe('E_PAYLOAD_TOO_LARGE');
  });
});

describe('resume webhook', () => {
  const post = (url: string, token: string | null, body: string, type = 'application/json') =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body,
    });

  it('takes the token as bearer and the body as the output, once', async () => {
    const runId = await waitingRun();
    const { token } = await linkOf(runId);
    const url = `${api.url}/v1/runs/${runId}/waits/approve/resume`;
    const unsigned = await post(url, null, '{"ok":true}');
    expect(unsigned.status).toBe(401);
    expect(((await unsigned.json()) as { code: string }).code).toBe('E_WAIT_TOKEN_INVALID');
    const wrongStep = await post(
      `${api.url}/v1/runs/${runId}/waits/other/resume`,
      token,
      '{"ok":true}',
    );
    expect(wrongStep.status).toBe(401);
    const ok = await post(url, token, '{"decision":"approve"}');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ runId, stepId: 'approve', resumed: true });
    expect((await stepOf(runId))?.output).toEqual({ decision: 'approve' });
    expect(await jobDueIn(runId)).toBeLessThanOrEqual(0);
    const twice = await post(url, token, '{"decision":"reject"}');
    expect(twice.status).toBe(409);
    expect(((await twice.json()) as { code: string }).code).toBe('E_WAIT_NOT_WAITING');
    const text = await waitingRun();
    const t = await post(
      `${api.url}/v1/runs/${text}/waits/approve/resume`,
      (await linkOf(text)).token,
      'plain words',
      'text/plain',
    );
    expect(t.status).toBe(200);
    expect((await stepOf(text))?.output).toBe('plain words');
  });
});

describe('logs', () => {
  it('never carry a wait token, whether the resume succeeds or not', async () => {
    const lines: string[] = [];
    const logger = createLogger(
      { level: 'debug', name: 'capture' },
      {
        write: (line: string) => void lines.push(line),
      },
    );
    const logged = await startTestApi(db, {}, logger);
    try {
      const runId = await waitingRun();
      const { token } = await linkOf(runId);
      const url = `${logged.url}/v1/runs/${runId}/waits/approve/resume`;
      const wrong = token.slice(0, -4) + 'AAAA';
      for (const t of [wrong, token, token])
        await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${t}` } });
      await logged.gql(RESUME, { runId, token, payload: { token } }, { token: ownerToken });
      await logged.flush();
      expect(lines.length).toBeGreaterThan(0);
      const text = lines.join('');
      expect(text).not.toContain(token.slice(12));
      expect(text).not.toContain(wrong.slice(12));
    } finally {
      await logged.close();
    }
  });
});
