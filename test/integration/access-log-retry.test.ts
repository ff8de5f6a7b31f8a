/**
 * Issue 12: the access history is a compliance record. Entries the database refuses for a
 * while (a restart, a revoked grant) are kept and written later; memory stays bounded and what
 * cannot be kept is counted on /metrics. A failed operation is recorded with its real code.
 */
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessLogEntry } from '../../src/db/queries/access-log.ts';
import { createAccessLog } from '../../src/observability/access-log.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import type { TenantId } from '../../src/model/ids.ts';

let db: TestDatabase;
let api: TestApi;
let token: string;
let tenantId: TenantId;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  const tenant = await makeTenant(db.pool);
  token = tenant.apiToken;
  tenantId = tenant.tenantId;
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

/** The database refuses the runtime role's writes to access_log until `restore()`. */
async function refuseWrites(): Promise<{ restore(): Promise<void> }> {
  await db.ownerPool.query('revoke insert on access_log from switchyard_runtime');
  return {
    restore: async () => {
      await db.ownerPool.query('grant insert on access_log to switchyard_runtime');
    },
  };
}

async function outcomesOf(requestIds: string[]): Promise<string[]> {
  const res = await db.ownerPool.query<{ outcome: string }>(
    'select outcome from access_log where request_id = any($1) order by occurred_at, id',
    [requestIds],
  );
  return res.rows.map((r) => r.outcome);
}

async function metricsText(): Promise<string> {
  return (await fetch(`${api.url}/metrics`)).text();
}

describe('access history while the database refuses writes', () => {
  it('keeps every entry and writes it once the database accepts writes again', async () => {
    const refused = await refuseWrites();
    const requestIds: string[] = [];
    try {
      for (let i = 0; i < 7; i++) {
        const requestId = `keep-${randomUUID()}`;
        requestIds.push(requestId);
        const r = await api.gql(
          '{ workflows(first: 100) { nodes { id } } }',
          {},
          {
            token,
            headers: { 'x-request-id': requestId },
          },
        );
        expect(r.errors).toBeUndefined();
      }
      await api.flush();
      await api.flush();
      expect(await outcomesOf(requestIds)).toEqual([]);
      expect(await metricsText()).toMatch(/^switchyard_access_log_pending 7$/m);
    } finally {
      await refused.restore();
    }
    await api.flush();
    expect(await outcomesOf(requestIds)).toEqual(Array(7).fill('ok'));
    const metrics = await metricsText();
    expect(metrics).toMatch(/^switchyard_access_log_pending 0$/m);
    expect(metrics).not.toMatch(/^switchyard_access_log_dropped_total\{/m);
  });

  it('bounds memory: what does not fit is counted by reason, the rest is written', async () => {
    const registry = new Registry();
    const log = createAccessLog(db.pool, testLogger, {
      registry,
      maxBuffered: 5,
      flushEveryMs: 60_000,
    });
    const requestIds = Array.from({ length: 8 }, () => `bound-${randomUUID()}`);
    const entry = (requestId: string): AccessLogEntry => ({
      tenantId,
      actorKind: 'system',
      actorId: 'test',
      tokenId: null,
      operationKind: 'query',
      operationName: 'bounded',
      outcome: 'ok',
      durationMs: 1,
      ip: null,
      requestId,
      occurredAt: new Date(),
    });
    const refused = await refuseWrites();
    try {
      for (const id of requestIds.slice(0, 4)) log.record(entry(id));
      expect(await log.flush()).toBe(false);
      for (const id of requestIds.slice(4)) log.record(entry(id));
      expect(log.pending()).toBe(5);
      expect(await log.flush()).toBe(false);
    } finally {
      await refused.restore();
    }
    expect(await log.flush()).toBe(true);
    await log.stop();
    expect(await outcomesOf(requestIds)).toHaveLength(5);
    const text = await registry.metrics();
    expect(text).toMatch(/^switchyard_access_log_dropped_total\{reason="buffer_full"\} 3$/m);
  });
});

describe('access history outcome of a failed operation', () => {
  async function outcomeOf(
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<{ code: string | undefined; outcome: string | undefined }> {
    const requestId = `code-${randomUUID()}`;
    const r = await api.gql(query, variables, { token, headers: { 'x-request-id': requestId } });
    await api.flush();
    return { code: r.errors?.[0]?.extensions?.code, outcome: (await outcomesOf([requestId]))[0] };
  }

  it('records E_VALIDATION, E_RUN_NOT_FOUND and E_IDEMPOTENCY_CONFLICT as such', async () => {
    expect(
      await outcomeOf('mutation($n: String!) { createWorkflow(name: $n) { id } }', { n: 5 }),
    ).toEqual({ code: 'E_VALIDATION', outcome: 'error:E_VALIDATION' });
    expect(
      await outcomeOf('mutation($id: ID!) { cancelRun(id: $id) { id } }', { id: randomUUID() }),
    ).toEqual({ code: 'E_RUN_NOT_FOUND', outcome: 'error:E_RUN_NOT_FOUND' });

    const actionId = await makeAction(db.pool, tenantId);
    const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId }]);
    const trigger =
      'mutation($w: ID!, $i: JSON) { triggerWorkflow(workflowId: $w, input: $i, idempotencyKey: "k1") { duplicate } }';
    expect(await outcomeOf(trigger, { w: workflowId, i: { a: 1 } })).toEqual({
      code: undefined,
      outcome: 'ok',
    });
    expect(await outcomeOf(trigger, { w: workflowId, i: { a: 2 } })).toEqual({
      code: 'E_IDEMPOTENCY_CONFLICT',
      outcome: 'error:E_IDEMPOTENCY_CONFLICT',
    });
  });
});
