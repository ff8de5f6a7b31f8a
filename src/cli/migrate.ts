import { parseArgs } from 'node:util';
import { openDatabase } from '../db/connect.ts';
import { createContext } from './context.ts';

export async function migrateCommand(args: string[]): Promise<void> {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
  const { config, logger } = createContext({ logsTo: 'stderr', name: 'switchyard-migrate' });
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard-migrate',
  });
  await db.close();
  process.stdout.write('Migrations are up to date.\n');
}
