/**
 * The health dashboard's API for admins: the last hour per minute (queue, in flight, the oldest
 * queued run's wait, outcomes) and step durations per action, computed from the runs; the last
 * retention pass; an open circuit breaker reset by hand, audited, and refused when closed or to
 * an editor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionId, TenantId } from '../../src/model/ids.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let tenantId: TenantId;
let owner: string;
let editor: string;
let actionId: ActionId;

type Minute = {
  at: string;
  queued: number;
  inFlight: number;
  oldestQueuedSeconds: number;
  succeeded: number;
  failed: number;
  dead: number;
  canceled: number;
};
const HEALTH = `{ health { now
  minutes { at queued inFlight oldestQueuedSeconds succeeded failed dead canceled }
  actions { actionId actionName attempts p50Ms p95Ms }
  lastRetentionPass { at deleted } } }`;

/** A run of the workflow with times as intervals before now (null: not yet). */
async function run(
  wf: { workflowId: string; versionId: string },
  status: string,
  created: string,
  started: string | null,
  finished: string | null,
): Promise<string> {
  const r = await db.ownerPool.query<{ id: string }>(
    `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, status, created_at, started_at, finished_at)
     values ($1, $2, $3, $4, now() - $5::interval, now() - $6::interval, now() - $7::interval) returning id`,
    [tenantId, wf.workflowId, wf.versionId, status, created, started, finished],
  );
  return r.rows[0]!.id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  const t = await makeTenant(db.pool);
  tenantId = t.tenantId;
  owner = t.apiToken;
  const e = await api.gql<{ createApiToken: { secret: string } }>(
    `mutation { createApiToken(name: "e", role: editor) { secret } }`,
    {},
    { token: owner },
  );
  editor = e.data!.createApiToken.secret;
  actionId = await makeAction(db.pool, tenantId);
  const wf = await makeWorkflow(db.pool, tenantId, [{ id: 'call', actionId }]);
  // Three succeeded 10 minutes ago after steps of 100, 200 and 1000 ms; two dead 5 minutes ago;
  // one queued for 3 minutes; one running for 2; one from yesterday that is not counted.
  for (const ms of [100, 200, 1000]) {
    const id = await run(wf, 'succeeded', '11 minutes', '11 minutes', '10 minutes');
    await db.ownerPool.query(
      `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status, started_at, finished_at)
       values ($1, $2, 'call', 0, 1, 'succeeded', now() - interval '10 minutes' - $3 * interval '1 millisecond', now() - interval '10 minutes')`,
      [tenantId, id, ms],
    );
  }
  await run(wf, 'dead', '6 minutes', '6 minutes', '5 minutes');
  await run(wf, 'dead', '6 minutes', '6 minutes', '5 minutes');
  await run(wf, 'queued', '3 minutes', null, null);
  await run(wf, 'running', '2 minutes', '2 minutes', null);
  await run(wf, 'succeeded', '1 day 2 hours', '1 day 2 hours', '1 day 1 hour');
  await db.ownerPool.query(
    `insert into circuit_breakers (tenant_id, host, connection_key, state, failures, open_until, opened_at)
     values ($1, 'api.down.test', '', 'open', 5, now() + interval '30 seconds', now())`,
    [tenantId],
  );
  await db.ownerPool.query(
    `insert into audit_events (tenant_id, actor_kind, actor_id, action, target_kind, target_id, metadata, prev_hash, hash)
     values ($1::uuid, 'system', 'retention', 'retention.purged', 'tenant', $1::text, '{"deleted": {"workflowRuns": 4}}', '\\x', '\\x')`,
    [tenantId],
  );
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('health', () => {
  it('answers the last hour per minute and the step durations per action', async () => {
    const res = await api.gql<{
      health: {
        now: string;
        minutes: Minute[];
        actions: { actionId: string; attempts: number; p50Ms: number; p95Ms: number }[];
        lastRetentionPass: { deleted: Record<string, number> } | null;
      };
    }>(HEALTH, {}, { token: owner });
    expect(res.errors).toBeUndefined();
    const h = res.data!.health;
    expect(h.minutes).toHaveLength(60);
    const sum = (k: keyof Minute) => h.minutes.reduce((n, m) => n + Number(m[k]), 0);
    expect({ succeeded: sum('succeeded'), dead: sum('dead'), failed: sum('failed') }).toEqual({
      succeeded: 3,
      dead: 2,
      failed: 0,
    });
    const last = h.minutes[h.minutes.length - 1]!;
    expect(last).toMatchObject({ queued: 1, inFlight: 2 });
    expect(last.oldestQueuedSeconds).toBeGreaterThan(170);
    expect(last.oldestQueuedSeconds).toBeLessThan(260);
    // Twelve minutes ago nothing had started; eleven minutes ago the three were in flight.
    const before = h.minutes[h.minutes.length - 13]!;
    expect(before).toMatchObject({ queued: 0, inFlight: 0 });
    expect(h.minutes[h.minutes.length - 12]!.inFlight).toBe(3);

    expect(h.actions).toEqual([expect.objectContaining({ actionId, attempts: 3, p50Ms: 200 })]);
    expect(h.actions[0]!.p95Ms).toBeGreaterThan(850);
    expect(h.lastRetentionPass?.deleted).toEqual({ workflowRuns: 4 });
  });

  it('is for admins', async () => {
    const res = await api.gql(HEALTH, {}, { token: editor });
    expect(res.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
  });

  it('resets an open circuit breaker by hand, audited; a closed one is not found', async () => {
    const RESET = `mutation($h: String!) { resetCircuitBreaker(host: $h) }`;
    const refused = await api.gql(RESET, { h: 'api.down.test' }, { token: editor });
    expect(refused.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    const ok = await api.gql<{ resetCircuitBreaker: boolean }>(
      RESET,
      { h: 'api.down.test' },
      { token: owner },
    );
    expect(ok.errors).toBeUndefined();
    const open = await api.gql<{ circuitBreakers: unknown[] }>(
      '{ circuitBreakers { host } }',
      {},
      { token: owner },
    );
    expect(open.data!.circuitBreakers).toEqual([]);
    const again = await api.gql(RESET, { h: 'api.down.test' }, { token: owner });
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'E_NOT_FOUND', field: 'host' });
    const audit = await db.ownerPool.query<{ target_id: string; actor_kind: string }>(
      `select target_id, actor_kind from audit_events where action = 'circuit_breaker.reset'`,
    );
    expect(audit.rows).toEqual([{ target_id: 'api.down.test', actor_kind: 'token' }]);
  });
});
