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
    reportFailure(err);
    return 1;
  }
}

/**
 * A failure is one line, `switchyard: E_CODE: message`, whatever failed: an operator reads it
 * at a terminal or in a service manager's log, and a stack trace there hides the one sentence
 * that says what to fix. The stack of an unexpected error is shown with LOG_LEVEL=debug.
 */
function reportFailure(err: unknown): void {
  const code = isSwitchyardError(err) ? err.code : 'E_INTERNAL';
  const text = err instanceof Error ? err.message : String(err);
  const message = isSwitchyardError(err)
    ? text
    : `unexpected error: ${text} (LOG_LEVEL=debug shows where)`;
  process.stderr.write(`switchyard: ${code}: ${oneLine(message)}\n`);
  if (!isSwitchyardError(err) && process.env.LOG_LEVEL === 'debug' && err instanceof Error)
    process.stderr.write(`${err.stack ?? ''}\n`);
}

function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('; ')
    .replace(/:;/g, ':');
}

// An error nobody awaited (an 'error' event of a child process, a stray rejection) would
// otherwise print Node's stack trace; it ends the process the same way, in the same one line.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: unknown) => {
    reportFailure(err);
    process.exit(1);
  });
}

const code = await main(process.argv.slice(2));
// Long-running commands (start) keep the process alive through their own handles.
if (code !== 0) process.exit(code);
