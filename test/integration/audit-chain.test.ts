import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.ts';
import { recordAudit, verifyAuditChain } from '../../src/observability/audit.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('audit trail', () => {
  it('chains events per tenant, even when many are written at once', async () => {
    const t = await makeTenant(db.pool);
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        withTenant(db.pool, t.tenantId, (c) =>
          recordAudit(c, {
            tenantId: t.tenantId,
            actorKind: 'system',
            actorId: 'test',
            action: `test.event.${i}`,
          }),
        ),
      ),
    );
    const verdict = await withTenant(db.pool, t.tenantId, (c) =>
      verifyAuditChain(c, t.tenantId, 7),
    );
    // 3 events from tenant creation + 40
    expect(verdict).toEqual({ ok: true, events: 43 });
  });

  it('refuses update, delete and truncate by the runtime role', async () => {
    const t = await makeTenant(db.pool);
    for (const sql of [
      `update audit_events set action = 'x'`,
      `delete from audit_events`,
      `truncate audit_events`,
    ]) {
      await expect(withTenant(db.pool, t.tenantId, (c) => c.query(sql))).rejects.toThrow(
        /permission denied|append-only/,
      );
    }
  });

  it('refuses update and delete even by the owner while triggers are on', async () => {
    const t = await makeTenant(db.pool);
    await expect(
      db.ownerPool.query(`update audit_events set action = 'x' where tenant_id = $1`, [t.tenantId]),
    ).rejects.toThrow(/append-only/);
    await expect(
      db.ownerPool.query(`delete from audit_events where tenant_id = $1`, [t.tenantId]),
    ).rejects.toThrow(/append-only/);
  });

  it('finds the first broken link when the owner alters a row behind the triggers', async () => {
    const t = await makeTenant(db.pool);
    for (let i = 0; i < 5; i++) {
      await withTenant(db.pool, t.tenantId, (c) =>
        recordAudit(c, {
          tenantId: t.tenantId,
          actorKind: 'user',
          actorId: 'u1',
          action: 'workflow.updated',
          metadata: { i },
        }),
      );
    }
    const owner = await db.ownerPool.connect();
    try {
      await owner.query('begin');
      await owner.query('alter table audit_events disable trigger audit_events_immutable');
      await owner.query(
        `update audit_events set metadata = '{"i": 99}' where tenant_id = $1 and seq = 6`,
        [t.tenantId],
      );
      await owner.query('alter table audit_events enable trigger audit_events_immutable');
      await owner.query('commit');
    } finally {
      owner.release();
    }
    const verdict = await withTenant(db.pool, t.tenantId, (c) => verifyAuditChain(c, t.tenantId));
    expect(verdict).toMatchObject({ ok: false, brokenAtSeq: 6, reason: 'hash-mismatch' });
  });
});
