/**
 * A claim tells its worker whether it left due jobs in the queue (claimDueJobs' `more`): the
 * worker then claims again as slots free and its intake hands no new run over; when the claim
 * took every due job it could, new runs go to the worker at once (engine/worker.ts, HandOff).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDueJobs } from '../../src/db/queries/jobs.ts';
import { withSystem } from '../../src/db/tenant.ts';
import { startRun } from '../../src/engine/start-run.ts';
import type { TenantId } from '../../src/model/ids.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, makeAction, makeWorkflow } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** A tenant with `n` runs queued, due now. */
async function tenantWithDue(n: number): Promise<TenantId> {
  const { tenantId } = await makeTenant(db.pool);
  const actionId = await makeAction(db.pool, tenantId);
  const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId }]);
  for (let i = 0; i < n; i++)
    await startRun(engineDeps(db.pool), { tenantId, workflowId, input: { i } });
  return tenantId;
}

const claim = (limit: number, tenantMaxConcurrency = 50) =>
  withSystem(db.pool, (c) =>
    claimDueJobs(c, {
      now: new Date(Date.now() + 1_000),
      workerId: 'test-worker',
      limit,
      leaseMs: 60_000,
      tenantMaxConcurrency,
    }),
  );

const perTenant = (jobs: { tenantId: TenantId }[]) => {
  const n = new Map<TenantId, number>();
  for (const j of jobs) n.set(j.tenantId, (n.get(j.tenantId) ?? 0) + 1);
  return n;
};

describe('a claim and the due jobs it leaves', () => {
  it('says whether it left due jobs: a full batch, a tenant at its share or its cap', async () => {
    // Fewer due than asked for, one tenant: all taken, nothing left.
    const a = await tenantWithDue(3);
    let r = await claim(8);
    expect(r.jobs.map((j) => j.tenantId)).toEqual([a, a, a]);
    expect(r.more).toBe(false);
    // Nothing due at all.
    expect(await claim(8)).toEqual({ jobs: [], more: false });

    // A full batch: more may be due (here 2 are).
    const b = await tenantWithDue(10);
    r = await claim(8);
    expect(r.jobs).toHaveLength(8);
    expect(r.more).toBe(true);
    r = await claim(8);
    expect(r.jobs).toHaveLength(2);
    expect(r.more).toBe(false);
    expect(perTenant(r.jobs).get(b)).toBe(2);

    // Two tenants share a batch of 8 (4 each): the one with 6 due gets its share, and the
    // claim takes 5 jobs in all while 2 stay due: it says so.
    const c = await tenantWithDue(6);
    const d = await tenantWithDue(1);
    r = await claim(8);
    expect(perTenant(r.jobs)).toEqual(
      new Map([
        [c, 4],
        [d, 1],
      ]),
    );
    expect(r.more).toBe(true);
    r = await claim(8);
    expect(perTenant(r.jobs)).toEqual(new Map([[c, 2]]));
    expect(r.more).toBe(false);

    // A tenant at its cap of running jobs: its due jobs stay, and the claim says so.
    const e = await tenantWithDue(3);
    r = await claim(8, 2);
    expect(perTenant(r.jobs)).toEqual(new Map([[e, 2]]));
    expect(r.more).toBe(true);
    r = await claim(8, 2);
    expect(r).toEqual({ jobs: [], more: true });
  });
});
