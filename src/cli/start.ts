import { parseArgs } from 'node:util';
import { buildServer } from '../api/server.ts';
import { databaseCheck, migrationsCheck } from '../api/readiness.ts';
import { openDatabase } from '../db/connect.ts';
import { readMigrations } from '../db/migrate.ts';
import { startPartitionMaintenance } from '../db/partitions.ts';
import { SwitchyardError } from '../model/errors.ts';
import { createContext } from './context.ts';
import { Lifecycle } from './lifecycle.ts';

export async function startCommand(args: string[]): Promise<void> {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
  const { config, logger } = createContext({ logsTo: 'stdout', name: 'switchyard' });
  const lifecycle = new Lifecycle(logger);
  lifecycle.handleSignals();
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard',
  });
  lifecycle.onStop('database', () => db.close());
  const stopPartitionMaintenance = startPartitionMaintenance(db.pool, logger);
  lifecycle.onStop('partition maintenance', () => Promise.resolve(stopPartitionMaintenance()));
  const migrations = await readMigrations();
  const app = await buildServer({
    pool: db.pool,
    logger,
    readinessChecks: [databaseCheck(db.pool), migrationsCheck(db.pool, migrations)],
  });
  try {
    await app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    await lifecycle.stop();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new SwitchyardError(
        'E_PORT_IN_USE',
        `Cannot listen on ${config.server.host}:${config.server.port}: the port is in use. Set PORT to a free port.`,
      );
    }
    throw err;
  }
  lifecycle.onStop('http', () => app.close());
  const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${config.server.port}`;
  logger.info({ url, embeddedDatabase: db.embedded }, `Switchyard is running at ${url}`);
}
