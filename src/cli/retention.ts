import { parseArgs } from 'node:util';
import { openDatabase } from '../db/connect.ts';
import { SwitchyardError } from '../model/errors.ts';
import { countedTables, type RetentionCounts, type RetentionReport } from '../retention/report.ts';
import { runRetention } from '../retention/run.ts';
import { createContext } from './context.ts';
import { UsageError } from './usage.ts';

const options = {
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** `switchyard retention run [--dry-run] [--json]`: one retention run now, with its counts. */
export async function retentionCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'run') throw new UsageError(`Unknown retention command: ${sub ?? '(none)'}`);
  const { values } = parseArgs({ args: rest, options, strict: true, allowPositionals: false });
  const { config, logger } = createContext({ logsTo: 'stderr', name: 'switchyard-retention' });
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard-cli',
  });
  let report: RetentionReport;
  try {
    report = await runRetention(
      { pool: db.pool, config: config.retention, logger, clock: { now: () => new Date() } },
      { dryRun: values['dry-run'] ?? false },
    );
  } finally {
    await db.close();
  }
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : describe(report));
  if (report.failures.length > 0) {
    throw new SwitchyardError(
      'E_RETENTION_INCOMPLETE',
      `Retention failed for ${report.failures.map((f) => `${f.scope} (${f.message})`).join(', ')}. ` +
        'Everything else was done; the next run retries these (see the log for details).',
    );
  }
}

/** Column of the table names in the text report. */
const WIDTH = 26;

function describe(r: RetentionReport): string {
  if (r.skipped === 'locked')
    return 'Another process is running retention right now; nothing done. Try again later.\n';
  const verb = r.dryRun ? 'would delete' : 'deleted';
  const lines = [
    r.dryRun ? 'Retention dry run (nothing changed):' : 'Retention run:',
    ...(Object.entries(countedTables) as Array<[keyof RetentionCounts, string]>).map(
      ([key, table]) => `  ${table.padEnd(WIDTH)} ${verb} ${r.deleted[key]}`,
    ),
  ];
  for (const [table, days] of Object.entries(r.droppedPartitions)) {
    const which = days.length > 0 ? ` (${days[0]} to ${days[days.length - 1]})` : '';
    lines.push(
      `  ${`${table} partitions`.padEnd(WIDTH)} ${r.dryRun ? 'would drop' : 'dropped'} ${days.length}${which}`,
    );
  }
  if (r.busyPartitions.length > 0)
    lines.push(`  busy, left for the next run: ${r.busyPartitions.join(', ')}`);
  lines.push(`${r.tenants} tenant(s) in ${r.durationMs} ms.`);
  return `${lines.join('\n')}\n`;
}
