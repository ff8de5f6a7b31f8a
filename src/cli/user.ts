import { parseArgs } from 'node:util';
import { setUserAccess } from '../accounts/disable-user.ts';
import { setUserPassword } from '../accounts/set-password.ts';
import { openDatabase } from '../db/connect.ts';
import { createContext } from './context.ts';
import { UsageError } from './usage.ts';

/**
 * `switchyard user set-password --email E`: the password is read from standard input (one
 * line; piped, or typed at a hidden prompt twice), never from the command line, where it
 * would be visible in `ps` and in shell history.
 * `switchyard user disable --email E` / `user enable --email E`: an operator takes a user's
 * access away (sign-in, sessions, the API tokens they created) or gives it back.
 */
export async function userCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'set-password' && sub !== 'disable' && sub !== 'enable') {
    throw new UsageError(`Unknown user command: ${sub ?? '(none)'}`);
  }
  const { values } = parseArgs({
    args: rest,
    options: { email: { type: 'string' }, json: { type: 'boolean' } },
    strict: true,
    allowPositionals: false,
  });
  if (!values.email) throw new UsageError(`user ${sub} needs --email`);
  const password =
    sub === 'set-password' ? (process.stdin.isTTY ? await promptTwice() : await readPiped()) : '';
  const { config, logger } = createContext({ logsTo: 'stderr', name: 'switchyard-user' });
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard-cli',
  });
  const actor = { kind: 'system', id: 'cli' } as const;
  try {
    if (sub === 'set-password') {
      const done = await setUserPassword(db.pool, { email: values.email, password, actor });
      process.stdout.write(
        values.json
          ? `${JSON.stringify(done)}\n`
          : `Password set for ${done.email}; ${done.sessionsEnded} session(s) signed out.\n`,
      );
      return;
    }
    const done = await setUserAccess(db.pool, {
      email: values.email,
      disabled: sub === 'disable',
      actor,
    });
    process.stdout.write(
      values.json
        ? `${JSON.stringify(done)}\n`
        : done.disabled
          ? `${done.email} is disabled: ${done.sessionsEnded} session(s) signed out; their API tokens stop working in ${done.tenants} tenant(s).\n`
          : `${done.email} is enabled again.\n`,
    );
  } finally {
    await db.close();
  }
}

/** Everything piped in, without the final line break (`echo pw | switchyard …`). */
async function readPiped(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function promptTwice(): Promise<string> {
  const first = await promptHidden('New password: ');
  const second = await promptHidden('Again: ');
  if (first !== second) throw new UsageError('The two passwords differ.');
  return first;
}

/** One line typed at the terminal without echo. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (err: Error | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new UsageError('Cancelled.'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}
