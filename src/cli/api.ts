import { parseArgs } from 'node:util';
import { openDatabase } from '../db/connect.ts';
import { startPartitionMaintenance } from '../db/partitions.ts';
import { createContext, startProcessTracing } from './context.ts';
import { Lifecycle } from './lifecycle.ts';
import { serveHttp } from './serve.ts';

/** `switchyard api`: the HTTP API and webhook ingress only, for scaling out behind a load balancer. */
export async function apiCommand(args: string[]): Promise<void> {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
  const { config, logger } = createContext({ logsTo: 'stdout', name: 'switchyard-api' });
  const lifecycle = new Lifecycle(logger);
  lifecycle.handleSignals();
  startProcessTracing(config, 'switchyard-api', lifecycle);
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard-api',
  });
  lifecycle.onStop('database', () => db.close());
  const stopPartitionMaintenance = startPartitionMaintenance(db.pool, logger);
  lifecycle.onStop('partition maintenance', () => Promise.resolve(stopPartitionMaintenance()));
  const served = await serveHttp(config, db, logger, lifecycle);
  logger.info({ url: served.url }, `Switchyard API is running at ${served.url}`);
}
