/**
 * Purging old audit events: only the oldest end of a tenant's chain goes (so it still
 * verifies), only through purge_audit_events, and never anything recent — whoever asks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateTenantRetention } from '../../src/accounts/tenant-settings.ts';
import { defaultRetentionConfig } from '../../src/config/retention.ts';
import { withTenant } from '../../src/db/tenant.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { recordAudit, verifyAuditChain } from '../../src/observability/audit.ts';
import { runRetention } from '../../src/retention/run.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import {
  appendAuditEventAt,
  auditSeqs,
  daysAgo,
  makeBareTenant,
} from '../support/retention-factories.ts';

let db: TestDatabase;
const now = new Date();
const retention = () =>
  runRetention(
    {
      pool: db.pool,
      config: defaultRetentionConfig({ batchSize: 2 }),
      logger: testLogger,
      clock: { now: () => now },
    },
    { dryRun: false },
  );

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

async function recordNow(tenantId: TenantId, action: string): Promise<void> {
  await withTenant(db.pool, tenantId, (c) =>
    recordAudit(c, { tenantId, actorKind: 'system', actorId: 'test', action }),
  );
}

describe('audit retention', () => {
  it('purges the oldest end of the chain only, and the rest still verifies', async () => {
    const tenantId = await makeBareTenant(db.ownerPool);
    for (let d = 400; d > 395; d--)
      await appendAuditEventAt(db.ownerPool, tenantId, daysAgo(now, d));
    await appendAuditEventAt(db.ownerPool, tenantId, daysAgo(now, 100)); // seq 6
    // Old, but after a younger event: removing it would cut the chain in the middle.
    await appendAuditEventAt(db.ownerPool, tenantId, daysAgo(now, 500)); // seq 7
    await recordNow(tenantId, 'workflow.updated'); // seq 8

    const report = await retention();

    expect(report.failures).toEqual([]);
    expect(await auditSeqs(db.ownerPool, tenantId)).toEqual([6, 7, 8, 9]);
    const purged = await db.ownerPool.query<{ action: string; metadata: unknown }>(
      'select action, metadata from audit_events where tenant_id = $1 and seq = 9',
      [tenantId],
    );
    expect(purged.rows[0]).toMatchObject({
      action: 'retention.purged',
      metadata: { deleted: { auditEvents: 5 }, keptDays: { auditDays: 365 } },
    });
    const verdict = await withTenant(db.pool, tenantId, (c) => verifyAuditChain(c, tenantId));
    expect(verdict).toEqual({ ok: true, events: 4 });
    await recordNow(tenantId, 'workflow.deleted');
    expect(await withTenant(db.pool, tenantId, (c) => verifyAuditChain(c, tenantId))).toEqual({
      ok: true,
      events: 5,
    });
  });

  it('keeps a tenant’s audit events as long as the tenant asked, even past the default', async () => {
    const tenantId = await makeBareTenant(db.ownerPool);
    await appendAuditEventAt(db.ownerPool, tenantId, daysAgo(now, 800));
    await appendAuditEventAt(db.ownerPool, tenantId, daysAgo(now, 400));
    await withTenant(db.pool, tenantId, (c) =>
      updateTenantRetention(c, {
        tenantId,
        defaults: defaultRetentionConfig().defaults,
        changes: { auditDays: 500 },
        actor: { actorKind: 'system', actorId: 'test', ip: null, requestId: null },
      }),
    );
    await retention();
    // The 800-day-old event went; the 400-day-old one stays (the default, 365, would drop it).
    expect(await auditSeqs(db.ownerPool, tenantId)).toEqual([2, 3, 4]);
    await expect(
      withTenant(db.pool, tenantId, (c) =>
        c.query('select purge_audit_events($1, 365, 10)', [tenantId]),
      ),
    ).rejects.toThrow(/kept at least 500 days/);
  });
});

describe('the runtime role and recent audit events', () => {
  let tenantId: TenantId;
  let other: TenantId;
  beforeAll(async () => {
    tenantId = (await makeTenant(db.pool)).tenantId;
    other = (await makeTenant(db.pool)).tenantId;
    await appendAuditEventAt(db.ownerPool, other, daysAgo(now, 400));
  });

  const asTenant = (sql: string, params: unknown[] = []) =>
    withTenant(db.pool, tenantId, (c) => c.query(sql, params));

  it('cannot delete, update or truncate them directly, even with the purge flag set', async () => {
    for (const sql of [
      'delete from audit_events',
      `update audit_events set action = 'x'`,
      'truncate audit_events',
    ]) {
      await expect(asTenant(sql)).rejects.toThrow(/permission denied/);
    }
    await expect(
      withTenant(db.pool, tenantId, async (c) => {
        await c.query(`select set_config('switchyard.audit_purge', 'on', true)`);
        await c.query('delete from audit_events');
      }),
    ).rejects.toThrow(/permission denied/);
  });

  it('cannot purge them through the function: 30 days at least, its own tenant only', async () => {
    await expect(asTenant('select purge_audit_events($1, 1, 100)', [tenantId])).rejects.toThrow(
      /kept at least 30 days/,
    );
    await expect(asTenant('select purge_audit_events($1, 365, 100)', [other])).rejects.toThrow(
      /only the current tenant/,
    );
    const left = await db.ownerPool.query<{ n: number }>(
      'select count(*)::int as n from audit_events where tenant_id = any($1)',
      [[tenantId, other]],
    );
    expect(left.rows[0]?.n).toBe(7); // 3 + 3 from tenant creation, 1 old
  });

  it('keeps recent events and refuses updates even inside a purge (as the owner)', async () => {
    const owner = await db.ownerPool.connect();
    try {
      await owner.query('begin');
      await owner.query(`set local switchyard.audit_purge = 'on'`);
      await expect(
        owner.query('delete from audit_events where tenant_id = $1', [tenantId]),
      ).rejects.toThrow(/append-only/);
      await owner.query('rollback');
      await owner.query('begin');
      await owner.query(`set local switchyard.audit_purge = 'on'`);
      await expect(
        owner.query(`update audit_events set action = 'x' where tenant_id = $1`, [other]),
      ).rejects.toThrow(/append-only/);
    } finally {
      await owner.query('rollback');
      owner.release();
    }
  });
});
