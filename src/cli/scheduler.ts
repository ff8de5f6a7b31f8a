import { parseArgs } from 'node:util';
import { openDatabase } from '../db/connect.ts';
import { createEngine } from '../engine/engine.ts';
import { startRetentionSchedule } from '../retention/schedule.ts';
import { createContext, startProcessTracing } from './context.ts';
import { Lifecycle } from './lifecycle.ts';

/**
 * `switchyard scheduler`: fires cron triggers and runs retention every RETENTION_INTERVAL_MS
 * (any number of schedulers may run: each cron time fires once, one process runs retention).
 */
export async function schedulerCommand(args: string[]): Promise<void> {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
  const { config, logger } = createContext({ logsTo: 'stdout', name: 'switchyard-scheduler' });
  const lifecycle = new Lifecycle(logger);
  lifecycle.handleSignals();
  startProcessTracing(config, 'switchyard-scheduler', lifecycle);
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard-scheduler',
  });
  lifecycle.onStop('database', () => db.close());
  const scheduler = createEngine({
    pool: db.pool,
    logger,
    config: config.engine,
  }).createScheduler();
  scheduler.start();
  lifecycle.onStop('scheduler', () => scheduler.stop());
  const retention = startRetentionSchedule({
    pool: db.pool,
    config: config.retention,
    logger,
    clock: { now: () => new Date() },
  });
  lifecycle.onStop('retention', () => retention.stop());
}
