/**
 * The retention job against a real PostgreSQL, as the runtime role: what goes, what stays, per
 * tenant, and that two runs at once neither fail nor delete anything twice. Data is written
 * with old timestamps and the job is handed a fixed clock: nothing sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateTenantRetention } from '../../src/accounts/tenant-settings.ts';
import { defaultRetentionConfig, type RetentionConfig } from '../../src/config/retention.ts';
import { withSystem, withTenant } from '../../src/db/tenant.ts';
import type { RunId, TenantId } from '../../src/model/ids.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import type { RetentionDeps } from '../../src/retention/deps.ts';
import { runRetention } from '../../src/retention/run.ts';
import { startRetentionSchedule } from '../../src/retention/schedule.ts';
import { purgeTenant } from '../../src/retention/tenant.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { waitFor } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import {
  daysAgo,
  makeLogLine,
  makeRun,
  makeTestWorkflow,
  type TestWorkflow,
} from '../support/retention-factories.ts';

let db: TestDatabase;
const now = new Date();

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

function deps(config: Partial<RetentionConfig> = {}): RetentionDeps {
  return {
    pool: db.pool,
    config: defaultRetentionConfig({ batchSize: 3, ...config }),
    logger: testLogger,
    clock: { now: () => now },
  };
}

async function runIds(tenantId: TenantId): Promise<Set<string>> {
  const res = await db.ownerPool.query<{ id: string }>(
    'select id from workflow_runs where tenant_id = $1',
    [tenantId],
  );
  return new Set(res.rows.map((r) => r.id));
}

async function count(sql: string, params: unknown[]): Promise<number> {
  const res = await db.ownerPool.query<{ n: number }>(sql, params);
  return res.rows[0]!.n;
}

async function purgedEvents(tenantId: TenantId): Promise<Array<Record<string, unknown>>> {
  const res = await db.ownerPool.query<{ metadata: Record<string, unknown> }>(
    `select metadata from audit_events where tenant_id = $1 and action = 'retention.purged' order by seq`,
    [tenantId],
  );
  return res.rows.map((r) => r.metadata);
}

async function setRetention(
  tenantId: TenantId,
  changes: { runDays?: number | null; executionLogDays?: number | null; auditDays?: number | null },
): Promise<void> {
  await withTenant(db.pool, tenantId, (c) =>
    updateTenantRetention(c, {
      tenantId,
      defaults: defaultRetentionConfig().defaults,
      changes,
      actor: { actorKind: 'system', actorId: 'test', ip: null, requestId: null },
    }),
  );
}

describe('retention of runs', () => {
  let wf: TestWorkflow;
  const kept: Record<string, RunId> = {};
  const gone: Record<string, RunId> = {};

  beforeAll(async () => {
    wf = await makeTestWorkflow(db.pool, (await makeTenant(db.pool)).tenantId);
    const old = daysAgo(now, 100);
    for (const status of ['succeeded', 'failed', 'canceled'] as const)
      gone[status] = await makeRun(db.pool, wf, { status, createdAt: old, steps: 2 });
    gone.dead = await makeRun(db.pool, wf, { status: 'dead', createdAt: old, steps: 3 });
    kept.queued = await makeRun(db.pool, wf, { status: 'queued', createdAt: old, steps: 0 });
    kept.running = await makeRun(db.pool, wf, { status: 'running', createdAt: old });
    kept.recent = await makeRun(db.pool, wf, { status: 'succeeded', createdAt: daysAgo(now, 10) });
    kept.finishedLately = await makeRun(db.pool, wf, {
      status: 'failed',
      createdAt: old,
      finishedAt: daysAgo(now, 5),
    });
    kept.replay = await makeRun(db.pool, wf, {
      status: 'succeeded',
      createdAt: daysAgo(now, 2),
      replayOf: gone.dead,
    });
    await withTenant(db.pool, wf.tenantId, (c) =>
      c.query(
        `insert into idempotency_keys (tenant_id, workflow_id, key, input_hash, run_id, expires_at)
         values ($1, $2, 'expired', '\\x00', $3, $4), ($1, $2, 'live', '\\x00', $3, $5)`,
        [wf.tenantId, wf.workflowId, kept.recent, daysAgo(now, 1), daysAgo(now, -1)],
      ),
    );
  });

  it('deletes runs finished before the cutoff with their step runs and dead letters, and keeps the rest', async () => {
    const metrics = createMetrics();
    const report = await runRetention({ ...deps(), metrics }, { dryRun: false });
    expect(report.failures).toEqual([]);
    expect(report.skipped).toBeNull();
    expect(await runIds(wf.tenantId)).toEqual(new Set(Object.values(kept)));
    const goneIds = Object.values(gone);
    expect(
      await count(`select count(*)::int as n from step_runs where run_id = any($1)`, [goneIds]),
    ).toBe(0);
    expect(
      await count(`select count(*)::int as n from dead_letters where run_id = any($1)`, [goneIds]),
    ).toBe(0);
    // The unfinished runs keep their queue jobs and attempts.
    expect(
      await count(`select count(*)::int as n from jobs where tenant_id = $1`, [wf.tenantId]),
    ).toBe(2);
    const replay = await db.ownerPool.query<{ replay_of_run_id: string | null }>(
      'select replay_of_run_id from workflow_runs where id = $1',
      [kept.replay],
    );
    expect(replay.rows[0]?.replay_of_run_id).toBeNull();
    const keys = await db.ownerPool.query<{ key: string }>(
      'select key from idempotency_keys where tenant_id = $1',
      [wf.tenantId],
    );
    expect(keys.rows.map((r) => r.key)).toEqual(['live']);
    const exposed = await metrics.registry.metrics();
    expect(exposed).toMatch(/switchyard_retention_deleted_rows_total\{table="workflow_runs"\} 4\n/);
    expect(exposed).toMatch(/switchyard_retention_last_success_timestamp_seconds \d+/);
  });

  it('records what went in the tenant’s audit trail, once per run that removed something', async () => {
    expect(await purgedEvents(wf.tenantId)).toEqual([
      {
        deleted: { workflowRuns: 4, stepRuns: 9, deadLetters: 1, idempotencyKeys: 1 },
        keptDays: { runDays: 90, executionLogDays: 30, accessLogDays: 365, auditDays: 365 },
      },
    ]);
    const again = await runRetention(deps(), { dryRun: false });
    expect(again.failures).toEqual([]);
    expect(await purgedEvents(wf.tenantId)).toHaveLength(1);
  });
});

describe('per-tenant retention', () => {
  it('honours a tenant’s own run and log retention and leaves other tenants alone', async () => {
    const short = await makeTestWorkflow(db.pool, (await makeTenant(db.pool)).tenantId);
    const other = await makeTestWorkflow(db.pool, (await makeTenant(db.pool)).tenantId);
    await setRetention(short.tenantId, { runDays: 7, executionLogDays: 3 });
    const made: Record<string, RunId> = {};
    for (const [name, wf] of Object.entries({ short, other })) {
      made[`${name}Old`] = await makeRun(db.pool, wf, {
        status: 'succeeded',
        createdAt: daysAgo(now, 20),
      });
      const newRun = await makeRun(db.pool, wf, {
        status: 'succeeded',
        createdAt: daysAgo(now, 2),
      });
      made[`${name}New`] = newRun;
      await makeLogLine(db.pool, wf.tenantId, { runId: newRun, loggedAt: daysAgo(now, 5) });
      await makeLogLine(db.pool, wf.tenantId, { runId: newRun, loggedAt: daysAgo(now, 1) });
    }

    const report = await runRetention(deps(), { dryRun: false });

    expect(report.failures).toEqual([]);
    expect(await runIds(short.tenantId)).toEqual(new Set([made.shortNew]));
    expect(await runIds(other.tenantId)).toEqual(new Set([made.otherOld, made.otherNew]));
    const logDays = async (tenantId: TenantId) =>
      (
        await db.ownerPool.query<{ age: number }>(
          `select round(extract(epoch from ($2::timestamptz - logged_at)) / 86400)::int as age
             from execution_logs where tenant_id = $1 order by 1`,
          [tenantId, now],
        )
      ).rows.map((r) => r.age);
    expect(await logDays(short.tenantId)).toEqual([1]);
    expect(await logDays(other.tenantId)).toEqual([1, 5]);
    expect(await purgedEvents(other.tenantId)).toEqual([]);
    expect(await purgedEvents(short.tenantId)).toMatchObject([
      { deleted: { workflowRuns: 1, stepRuns: 1, executionLogs: 1 }, keptDays: { runDays: 7 } },
    ]);
  });
});

describe('a dry run', () => {
  it('counts what would go and changes nothing', async () => {
    const wf = await makeTestWorkflow(db.pool, (await makeTenant(db.pool)).tenantId);
    const runId = await makeRun(db.pool, wf, {
      status: 'dead',
      createdAt: daysAgo(now, 200),
      steps: 2,
    });
    const counts = await purgeTenant(deps(), wf.tenantId, { dryRun: true });
    expect(counts).toMatchObject({ workflowRuns: 1, stepRuns: 2, deadLetters: 1 });
    const report = await runRetention(deps(), { dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.deleted.workflowRuns).toBeGreaterThanOrEqual(1);
    expect(await runIds(wf.tenantId)).toEqual(new Set([runId]));
    expect(await purgedEvents(wf.tenantId)).toEqual([]);
  });
});

describe('concurrent retention runs', () => {
  it('never delete a row twice nor fail, whether or not the lock keeps them apart', async () => {
    const wf = await makeTestWorkflow(db.pool, (await makeTenant(db.pool)).tenantId);
    const makeOld = (n: number) =>
      Promise.all(
        Array.from({ length: n }, (_, i) =>
          makeRun(db.pool, wf, { status: 'succeeded', createdAt: daysAgo(now, 100 + i) }),
        ),
      );
    // Without the lock (purgeTenant directly): SKIP LOCKED splits the runs between them.
    await makeOld(40);
    const [a, b] = await Promise.all([
      purgeTenant(deps(), wf.tenantId, { dryRun: false }),
      purgeTenant(deps(), wf.tenantId, { dryRun: false }),
    ]);
    expect(a.workflowRuns + b.workflowRuns).toBe(40);
    expect(a.stepRuns + b.stepRuns).toBe(40);
    expect(await runIds(wf.tenantId)).toEqual(new Set());

    // Whole runs: the advisory lock lets one work; the other skips (or finds nothing left).
    await makeOld(40);
    const reports = await Promise.all([
      runRetention(deps(), { dryRun: false }),
      runRetention(deps(), { dryRun: false }),
    ]);
    for (const r of reports) expect(r.failures).toEqual([]);
    expect(reports.filter((r) => r.skipped === null).length).toBeGreaterThanOrEqual(1);
    expect(await runIds(wf.tenantId)).toEqual(new Set());
    // Each pass audits what it removed: the counts add up to the 80 runs, not more.
    const audited = (await purgedEvents(wf.tenantId)).map(
      (m) => (m.deleted as { workflowRuns?: number }).workflowRuns ?? 0,
    );
    expect(audited.reduce((x, y) => x + y, 0)).toBe(80);
  });

  it('skips when another process holds the retention lock', async () => {
    const holder = await db.pool.connect();
    try {
      await holder.query('select pg_advisory_lock(7242016006)');
      const report = await runRetention(deps(), { dryRun: false });
      expect(report).toMatchObject({ skipped: 'locked', tenants: 0, failures: [] });
    } finally {
      await holder.query('select pg_advisory_unlock(7242016006)');
      holder.release();
    }
  });
});

describe('the schedule', () => {
  it('runs retention on its own and stops with the process', async () => {
    const wf = await makeTestWorkflow(db.pool, (await makeTenant(db.pool)).tenantId);
    await makeRun(db.pool, wf, { status: 'failed', createdAt: daysAgo(now, 300) });
    const schedule = startRetentionSchedule(deps({ intervalMs: 60_000 }), { firstRunDelayMs: 0 });
    try {
      await waitFor(async () => (await runIds(wf.tenantId)).size === 0, {
        timeoutMs: 10_000,
        what: 'the scheduled retention run',
      });
    } finally {
      await schedule.stop();
    }
  });

  it('does nothing when RETENTION_INTERVAL_MS is 0', async () => {
    const wf = await makeTestWorkflow(db.pool, (await makeTenant(db.pool)).tenantId);
    await makeRun(db.pool, wf, { status: 'failed', createdAt: daysAgo(now, 300) });
    const schedule = startRetentionSchedule(deps({ intervalMs: 0 }), { firstRunDelayMs: 0 });
    await schedule.stop();
    expect((await runIds(wf.tenantId)).size).toBe(1);
  });
});

describe('the system scope retention uses', () => {
  it('lists tenants but cannot change them or read their settings', async () => {
    const { tenantId } = await makeTenant(db.pool);
    await setRetention(tenantId, { runDays: 5 });
    await withSystem(db.pool, async (c) => {
      const ids = (await c.query<{ id: string }>('select id from tenants')).rows.map((r) => r.id);
      expect(ids).toContain(tenantId);
      expect((await c.query(`update tenants set name = 'x'`)).rowCount).toBe(0);
      expect((await c.query('select 1 from tenant_settings')).rowCount).toBe(0);
    });
  });
});
