import { parseArgs } from 'node:util';
import { openDatabase } from '../db/connect.ts';
import { createEngine } from '../engine/engine.ts';
import { createContext } from './context.ts';
import { Lifecycle } from './lifecycle.ts';

/** `switchyard scheduler`: fires cron triggers (any number of schedulers may run). */
export async function schedulerCommand(args: string[]): Promise<void> {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
  const { config, logger } = createContext({ logsTo: 'stdout', name: 'switchyard-scheduler' });
  const lifecycle = new Lifecycle(logger);
  lifecycle.handleSignals();
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
}
