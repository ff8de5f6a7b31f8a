import { parseArgs } from 'node:util';
import { addMissingBuiltinApps } from '../accounts/builtin-apps.ts';
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
  try {
    const added = await addMissingBuiltinApps(db.pool);
    if (added > 0)
      logger.info({ added }, 'added the built-in apps new in this release to every tenant');
  } finally {
    await db.close();
  }
  process.stdout.write('Migrations are up to date.\n');
}
