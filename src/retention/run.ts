/**
 * One retention run over the whole database: every tenant's clean-up, then partitions and
 * sessions. Only one process runs it at a time (a session advisory lock; another process that
 * finds it taken skips its turn). Nothing here holds a lock for long: each batch is a short
 * transaction, and a failure in one tenant is logged and retried next run while the others
 * proceed.
 */
import type { PoolClient } from 'pg';
import { describePgError } from '../db/pool.ts';
import { selectTenantIdsPage } from '../db/queries/tenants.ts';
import { withSystem } from '../db/tenant.ts';
import type { TenantId } from '../model/ids.ts';
import type { RetentionDeps, RetentionOptions } from './deps.ts';
import { dropExpiredPartitions, purgeExpiredSessions } from './global.ts';
import {
  addCounts,
  countedTables,
  emptyCounts,
  totalOf,
  type RetentionCounts,
  type RetentionReport,
} from './report.ts';
import { purgeTenant } from './tenant.ts';

/** Key of the session advisory lock that lets one process at a time run retention. */
const RETENTION_LOCK_KEY = 7_242_016_006;
/** Tenant ids read per system-scope query. */
const TENANT_PAGE = 200;

export async function runRetention(
  deps: RetentionDeps,
  opts: RetentionOptions,
): Promise<RetentionReport> {
  const started = Date.now();
  const report: RetentionReport = {
    dryRun: opts.dryRun,
    skipped: null,
    now: deps.clock.now().toISOString(),
    tenants: 0,
    deleted: emptyCounts(),
    droppedPartitions: { execution_logs: [], access_log: [] },
    busyPartitions: [],
    failures: [],
    durationMs: 0,
  };
  // A dry run changes nothing, so it neither needs nor blocks the lock.
  const ran = opts.dryRun
    ? await runAll(deps, opts, report).then(() => true)
    : await withRetentionLock(deps, () => runAll(deps, opts, report));
  if (!ran) report.skipped = 'locked';
  report.durationMs = Date.now() - started;
  if (!opts.dryRun && ran) recordOutcome(deps, report, { complete: !opts.signal?.aborted });
  return report;
}

async function runAll(
  deps: RetentionDeps,
  opts: RetentionOptions,
  report: RetentionReport,
): Promise<void> {
  await attempt(deps, report, 'tenants', async () => {
    for await (const tenantId of allTenants(deps)) {
      if (opts.signal?.aborted) return;
      report.tenants++;
      await attempt(deps, report, tenantId, async () => {
        addCounts(report.deleted, await purgeTenant(deps, tenantId, opts));
      });
    }
  });
  if (opts.signal?.aborted) return;
  await attempt(deps, report, 'global', async () => {
    const partitions = await dropExpiredPartitions(deps, opts);
    report.droppedPartitions = partitions.dropped;
    report.busyPartitions = partitions.busy;
    report.deleted.sessions += await purgeExpiredSessions(deps, opts);
  });
}

async function* allTenants(deps: RetentionDeps): AsyncGenerator<TenantId> {
  let afterId: TenantId | null = null;
  for (;;) {
    const after: TenantId | null = afterId;
    const page: TenantId[] = await withSystem(deps.pool, (db) =>
      selectTenantIdsPage(db, { afterId: after, limit: TENANT_PAGE }),
    );
    yield* page;
    if (page.length < TENANT_PAGE) return;
    afterId = page[page.length - 1]!;
  }
}

async function attempt(
  deps: RetentionDeps,
  report: RetentionReport,
  scope: string,
  fn: () => Promise<void>,
): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const { message } = describePgError(err);
    report.failures.push({ scope, message });
    deps.logger.error({ scope, err: describePgError(err) }, 'retention failed; retried next run');
  }
}

/**
 * Runs `fn` holding the retention lock on one pooled connection; false when another process
 * holds it. The lock is a session lock: a process that dies releases it with its connection.
 */
async function withRetentionLock(deps: RetentionDeps, fn: () => Promise<void>): Promise<boolean> {
  const client: PoolClient = await deps.pool.connect();
  let broken = false;
  try {
    const got = await client
      .query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [RETENTION_LOCK_KEY])
      .catch((err: unknown) => {
        broken = true;
        throw err;
      });
    if (!got.rows[0]?.locked) return false;
    try {
      await fn();
    } finally {
      await client
        .query('select pg_advisory_unlock($1)', [RETENTION_LOCK_KEY])
        .catch((err: unknown) => {
          // The connection is gone, and the lock with it: do not return it to the pool.
          broken = true;
          deps.logger.warn({ err: describePgError(err) }, 'retention lock connection lost');
        });
    }
    return true;
  } finally {
    client.release(broken);
  }
}

function recordOutcome(
  deps: RetentionDeps,
  report: RetentionReport,
  p: { complete: boolean },
): void {
  const { metrics, logger } = deps;
  for (const [key, table] of Object.entries(countedTables) as Array<
    [keyof RetentionCounts, string]
  >) {
    if (report.deleted[key] > 0) metrics?.retentionDeletedRows.inc({ table }, report.deleted[key]);
  }
  for (const [table, days] of Object.entries(report.droppedPartitions)) {
    if (days.length > 0) metrics?.retentionDroppedPartitions.inc({ table }, days.length);
  }
  if (p.complete && report.failures.length === 0) metrics?.retentionLastSuccess.setToCurrentTime();
  const partitions =
    report.droppedPartitions.execution_logs.length + report.droppedPartitions.access_log.length;
  const summary = {
    tenants: report.tenants,
    deleted: report.deleted,
    droppedPartitions: report.droppedPartitions,
    busyPartitions: report.busyPartitions,
    durationMs: report.durationMs,
  };
  if (totalOf(report.deleted) > 0 || partitions > 0 || report.busyPartitions.length > 0)
    logger.info(summary, 'retention run finished');
  else logger.debug(summary, 'retention run finished: nothing to remove');
}
