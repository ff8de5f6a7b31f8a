import { isSwitchyardError } from '../model/errors.ts';
import { apiCommand } from './api.ts';
import { dlqCommand } from './dlq.ts';
import { keysCommand } from './keys.ts';
import { migrateCommand } from './migrate.ts';
import { retentionCommand } from './retention.ts';
import { schedulerCommand } from './scheduler.ts';
import { startCommand } from './start.ts';
import { tenantCommand } from './tenant.ts';
import { usage, UsageError } from './usage.ts';
import { userCommand } from './user.ts';
import { workerCommand } from './worker.ts';

const commands: Record<string, (args: string[]) => Promise<void>> = {
  start: startCommand,
  api: apiCommand,
  migrate: migrateCommand,
  tenant: tenantCommand,
  user: userCommand,
  worker: workerCommand,
  scheduler: schedulerCommand,
  dlq: dlqCommand,
  keys: keysCommand,
  retention: retentionCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  try {
    if (!command) throw new UsageError(`Unknown command: ${name}`);
    await command(args);
    return 0;
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`switchyard: ${(err as Error).message}\n\n${usage}`);
      return 2;
    }
    if (isSwitchyardError(err)) {
      process.stderr.write(`switchyard: ${err.code}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`switchyard: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Long-running commands (start) keep the process alive through their own handles.
if (code !== 0) process.exit(code);
