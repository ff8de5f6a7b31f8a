import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScheduler, fireOne } from '../../src/engine/cron.ts';
import { createPool } from '../../src/db/pool.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import {
  engineDeps,
  fakeClock,
  makeAction,
  makeCronTrigger,
  makeWorkflow,
  sleep,
} from '../support/engine-factories.ts';
import { spawnEngineProcess, type EngineProcess } from '../support/engine-spawn.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
const extraPools: pg.Pool[] = [];
const procs: EngineProcess[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  await Promise.all(extraPools.map((p) => p.end()));
  await db.drop();
});

async function cronWorkflow() {
  const tenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId);
  const { workflowId } = await makeWorkflow(db.pool, tenantId, [{ id: 's', actionId }]);
  return { tenantId, workflowId };
}

const runsOf = async (triggerId: string) =>
  (
    await db.ownerPool.query<{
      input: { scheduledAt: string; missedTimes: number };
      idempotency_key: string;
    }>(
      `select input, idempotency_key from workflow_runs where trigger_id = $1 order by input->>'scheduledAt'`,
      [triggerId],
    )
  ).rows;

describe('cron', () => {
  it('three schedulers racing on every tick fire each scheduled time exactly once', async () => {
    const { tenantId, workflowId } = await cronWorkflow();
    const clock = fakeClock(new Date('2030-01-01T00:00:30Z'));
    const triggerId = await makeCronTrigger(db.pool, tenantId, workflowId, {
      expression: '* * * * *',
      nextFireAt: new Date('2030-01-01T00:01:00Z'),
    });
    const schedulers = [0, 1, 2].map(() => {
      const pool = createPool({
        url: db.appUrl,
        max: 3,
        connectTimeoutMs: 5_000,
        applicationName: 'cron-test',
        logger: testLogger,
      });
      extraPools.push(pool);
      return engineDeps(pool, { clock });
    });
    for (let minute = 1; minute <= 20; minute++) {
      clock.set(new Date(Date.UTC(2030, 0, 1, 0, minute, 0, 500)));
      // Each scheduler ticks several times at once: all race for the same due trigger.
      await Promise.all(schedulers.flatMap((d) => [fireOne(d), fireOne(d), fireOne(d)]));
    }
    const runs = await runsOf(triggerId);
    expect(runs.map((r) => r.input.scheduledAt)).toEqual(
      Array.from({ length: 20 }, (_, i) => new Date(Date.UTC(2030, 0, 1, 0, i + 1)).toISOString()),
    );
    expect(runs.every((r) => r.input.missedTimes === 0)).toBe(true);
    expect(new Set(runs.map((r) => r.idempotency_key)).size).toBe(20);
  });

  it('after downtime fires the missed times once, then plans from now (time zone aware)', async () => {
    const { tenantId, workflowId } = await cronWorkflow();
    const clock = fakeClock(new Date('2030-01-01T10:00:20Z'));
    const triggerId = await makeCronTrigger(db.pool, tenantId, workflowId, {
      expression: '* * * * *',
      nextFireAt: new Date('2030-01-01T09:00:00Z'),
    });
    const deps = engineDeps(db.pool, { clock });
    while ((await fireOne(deps)) !== 'none');
    const runs = await runsOf(triggerId);
    expect(runs.map((r) => r.input)).toEqual([
      { scheduledAt: '2030-01-01T10:00:00.000Z', missedTimes: 60 },
    ]);
    const t = await db.ownerPool.query(
      'select cron_next_fire_at, cron_last_fired_at from triggers where id = $1',
      [triggerId],
    );
    expect(t.rows[0]).toEqual({
      cron_next_fire_at: new Date('2030-01-01T10:01:00Z'),
      cron_last_fired_at: new Date('2030-01-01T10:00:00Z'),
    });
    // A new trigger is planned (not fired) first; 09:00 in Berlin is 08:00Z in winter.
    const berlin = await makeCronTrigger(db.pool, tenantId, workflowId, {
      expression: '0 9 * * *',
      timezone: 'Europe/Berlin',
    });
    while ((await fireOne(deps)) !== 'none');
    const b = await db.ownerPool.query<{ cron_next_fire_at: Date }>(
      'select cron_next_fire_at from triggers where id = $1',
      [berlin],
    );
    expect(b.rows[0]!.cron_next_fire_at).toEqual(new Date('2030-01-02T08:00:00Z'));
    expect(await runsOf(berlin)).toHaveLength(0);
  });

  it('three scheduler processes: every second fires once (catch-up counted), none twice', async () => {
    const { tenantId, workflowId } = await cronWorkflow();
    for (let i = 0; i < 3; i++)
      procs.push(spawnEngineProcess({ ROLE: 'scheduler', DATABASE_APP_URL: db.appUrl }));
    await Promise.all(procs.map((p) => p.ready));
    const triggerId = await makeCronTrigger(db.pool, tenantId, workflowId, {
      expression: '* * * * * *',
    });
    await sleep(3_500);
    await db.ownerPool.query('update triggers set enabled = false where id = $1', [triggerId]);
    await sleep(200);
    const runs = await runsOf(triggerId);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    const times = runs.map((r) => Date.parse(r.input.scheduledAt));
    expect(new Set(times).size).toBe(times.length);
    // Consecutive fires cover every second in between exactly once.
    for (let i = 1; i < runs.length; i++) {
      expect((times[i]! - times[i - 1]!) / 1000).toBe(1 + runs[i]!.input.missedTimes);
    }
    const s = createScheduler(engineDeps(db.pool));
    expect(await s.tick()).toBe(0);
  });
});
