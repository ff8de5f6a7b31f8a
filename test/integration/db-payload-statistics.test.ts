/**
 * Migration 0038: ANALYZE of the hot tables gathers no statistics on the payload columns (a
 * run's input and output, a log line's data), which no statement filters or sorts on and whose
 * jsonb sorting was the costliest part of autovacuum's frequent analyzes; the columns the
 * queries do filter on keep theirs, and a log partition made later carries the same setting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import type { TenantId, WorkflowId } from '../../src/model/ids.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let tenantId: TenantId;
let workflowId: WorkflowId;

beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId);
  workflowId = (await makeWorkflow(db.pool, tenantId, [{ id: 'a', actionId }])).workflowId;
});
afterAll(async () => {
  await db.drop();
});

async function statisticsOf(table: string): Promise<string[]> {
  const r = await db.ownerPool.query<{ attname: string }>(
    `select attname from pg_stats where schemaname = 'public' and tablename = $1 order by attname`,
    [table],
  );
  return r.rows.map((x) => x.attname);
}

describe('planner statistics of the hot tables', () => {
  it('leave out the payload columns and keep the ones queries filter on', async () => {
    const deps = engineDeps(db.pool);
    for (let i = 0; i < 20; i++)
      await startRun(deps, { tenantId, workflowId, input: { order: i, note: `n${i % 3}` } });
    await db.ownerPool.query('analyze workflow_runs');
    const stats = await statisticsOf('workflow_runs');
    expect(stats).toEqual(expect.arrayContaining(['status', 'tenant_id', 'workflow_id']));
    for (const payload of ['input', 'output', 'error', 'error_context', 'pending_end'])
      expect(stats).not.toContain(payload);
  });

  it('carry over to a log partition made after the migration', async () => {
    const day = '2031-03-04';
    await db.ownerPool.query(`select ensure_daily_partitions('execution_logs', $1::date, 1)`, [
      day,
    ]);
    const r = await db.ownerPool.query<{ attname: string; target: number | null }>(
      `select attname, attstattarget::int as target from pg_attribute
        where attrelid = 'execution_logs_20310304'::regclass and attname in ('data', 'message')
        order by attname`,
    );
    expect(r.rows[0]).toEqual({ attname: 'data', target: 0 });
    // An untouched column keeps the default (null from PostgreSQL 17, -1 before).
    expect([null, -1]).toContain(r.rows[1]!.target);
  });
});
