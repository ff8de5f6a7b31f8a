/**
 * Log retention: day partitions of execution_logs and access_log older than the cutoff are
 * dropped whole, newer ones stay, and the database refuses to drop anything inside the floors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRetentionConfig } from '../../src/config/retention.ts';
import { listDailyPartitions } from '../../src/db/partitions.ts';
import { runRetention } from '../../src/retention/run.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { daysAgo } from '../support/retention-factories.ts';

let db: TestDatabase;
const now = new Date();
const day = (daysBack: number) => daysAgo(now, daysBack).toISOString().slice(0, 10);

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

async function makePartition(table: string, daysBack: number): Promise<void> {
  await db.ownerPool.query('select ensure_daily_partitions($1::regclass, $2::date, 1)', [
    table,
    day(daysBack),
  ]);
}

describe('log partitions', () => {
  it('drops partitions wholly older than the cutoff and keeps the rest', async () => {
    for (const d of [45, 31, 29, 2]) await makePartition('execution_logs', d);
    for (const d of [400, 366, 100]) await makePartition('access_log', d);
    const { tenantId } = await makeTenant(db.pool);
    await db.ownerPool.query(
      `insert into execution_logs (tenant_id, run_id, level, message, logged_at)
       values ($1, gen_random_uuid(), 'info', 'old', $2), ($1, gen_random_uuid(), 'info', 'new', $3)`,
      [tenantId, daysAgo(now, 45), daysAgo(now, 2)],
    );

    const dry = await runRetention(
      {
        pool: db.pool,
        config: defaultRetentionConfig(),
        logger: testLogger,
        clock: { now: () => now },
      },
      { dryRun: true },
    );
    expect(dry.droppedPartitions).toEqual({
      execution_logs: [day(45), day(31)],
      access_log: [day(400), day(366)],
    });
    expect(await listDailyPartitions(db.pool, 'execution_logs')).toHaveLength(4);

    const report = await runRetention(
      {
        pool: db.pool,
        config: defaultRetentionConfig(),
        logger: testLogger,
        clock: { now: () => now },
      },
      { dryRun: false },
    );
    expect(report.failures).toEqual([]);
    expect(report.droppedPartitions).toEqual(dry.droppedPartitions);
    expect(await listDailyPartitions(db.pool, 'execution_logs')).toEqual([day(29), day(2)]);
    expect(await listDailyPartitions(db.pool, 'access_log')).toEqual([day(100)]);
    const left = await db.ownerPool.query<{ message: string }>(
      'select message from execution_logs where tenant_id = $1',
      [tenantId],
    );
    expect(left.rows.map((r) => r.message)).toEqual(['new']);
  });

  it('refuses, in the database, to drop a partition inside the floor or of another table', async () => {
    await makePartition('access_log', 10);
    await makePartition('execution_logs', 0);
    const drop = (table: string, d: string) =>
      db.pool.query('select drop_daily_partition($1::regclass, $2::date) as outcome', [table, d]);
    await expect(drop('access_log', day(10))).rejects.toThrow(/within the 30 day floor/);
    await expect(drop('execution_logs', day(0))).rejects.toThrow(/within the 1 day floor/);
    await expect(drop('tenants', day(400))).rejects.toThrow(/not a day-partitioned table/);
    expect((await drop('execution_logs', day(900))).rows[0]).toEqual({ outcome: 'missing' });
    expect(await listDailyPartitions(db.pool, 'access_log')).toContain(day(10));
  });
});
