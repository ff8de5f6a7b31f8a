import { parseArgs } from 'node:util';
import { openDatabase } from '../db/connect.ts';
import type { DeadLetterFilter } from '../db/queries/dead-letters.ts';
import { createEngine } from '../engine/engine.ts';
import { isUuid, type TenantId, type WorkflowId } from '../model/ids.ts';
import { createContext } from './context.ts';
import { UsageError } from './usage.ts';

const options = {
  tenant: { type: 'string' },
  workflow: { type: 'string' },
  code: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  id: { type: 'string', multiple: true },
  all: { type: 'boolean' },
  again: { type: 'boolean' },
  pending: { type: 'boolean' },
  from: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** `switchyard dlq list|replay`: inspect and replay a tenant's dead letters. */
export async function dlqCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'list' && sub !== 'replay')
    throw new UsageError(`Unknown dlq command: ${sub ?? '(none)'}`);
  const { values } = parseArgs({ args: rest, options, strict: true, allowPositionals: false });
  if (!values.tenant || !isUuid(values.tenant)) throw new UsageError('dlq needs --tenant <uuid>');
  const tenantId = values.tenant as TenantId;
  const filter = toFilter(values);
  const from = values.from ?? 'failed-step';
  if (from !== 'failed-step' && from !== 'start')
    throw new UsageError('--from must be failed-step or start');
  if (sub === 'replay' && !values.all && !values.id?.length)
    throw new UsageError('dlq replay needs --id <dead letter id> (repeatable) or --all [filters]');
  const { config, logger } = createContext({ logsTo: 'stderr', name: 'switchyard-dlq' });
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard-cli',
  });
  try {
    const engine = createEngine({ pool: db.pool, logger, config: config.engine });
    if (sub === 'list') {
      const rows = await engine.listDeadLetters({ tenantId, filter });
      if (values.json) {
        process.stdout.write(`${JSON.stringify(rows)}\n`);
        return;
      }
      for (const r of rows) {
        process.stdout.write(
          `${r.id}  run ${r.runId}  step ${r.failedStepId ?? '-'}  ${r.error.code}  attempts ${r.retryCount}  ${r.createdAt.toISOString()}${r.replayRunId ? `  replayed as ${r.replayRunId}` : ''}\n`,
        );
      }
      process.stdout.write(`${rows.length} dead letter(s).\n`);
      return;
    }
    const replayed = await engine.replayDeadLetters({
      tenantId,
      filter,
      from,
      again: values.again ?? false,
      actor: { kind: 'system', id: 'cli' },
    });
    if (values.json) process.stdout.write(`${JSON.stringify(replayed)}\n`);
    else {
      for (const r of replayed)
        process.stdout.write(
          r.alreadyReplayed
            ? `${r.deadLetterId}: run ${r.runId} was already replayed as ${r.newRunId} (--again for a new replay)\n`
            : `${r.deadLetterId}: run ${r.runId} replayed as ${r.newRunId}\n`,
        );
      const made = replayed.filter((r) => !r.alreadyReplayed).length;
      process.stdout.write(
        `${made} run(s) replayed from ${from}, ${replayed.length - made} already replayed.\n`,
      );
    }
  } finally {
    await db.close();
  }
}

function toFilter(v: {
  workflow?: string | undefined;
  code?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  id?: string[] | undefined;
  pending?: boolean | undefined;
  limit?: string | undefined;
}): DeadLetterFilter {
  const limit = v.limit === undefined ? 100 : Number(v.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new UsageError('--limit must be 1 to 10000');
  const date = (name: string, s: string | undefined) => {
    if (s === undefined) return undefined;
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) throw new UsageError(`--${name} must be an ISO date`);
    return d;
  };
  if (v.workflow !== undefined && !isUuid(v.workflow))
    throw new UsageError('--workflow must be a uuid');
  if (v.id?.some((id) => !isUuid(id))) throw new UsageError('--id must be a uuid');
  const since = date('since', v.since);
  const until = date('until', v.until);
  return {
    limit,
    ...(v.id?.length ? { ids: v.id } : {}),
    ...(v.workflow ? { workflowId: v.workflow as WorkflowId } : {}),
    ...(v.code ? { errorCode: v.code } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    ...(v.pending ? { pending: true } : {}),
  };
}
