/**
 * Access history: every GraphQL operation and API-token use, buffered in memory and written in
 * batches (one statement per tenant per flush) so that reads do not pay a write each. A crash
 * loses at most one flush interval; anonymous, tenant-less entries (failed sign-ins, rejected
 * webhooks) are written with no tenant and are visible to operators only.
 */
import type pg from 'pg';
import { insertAccessLogEntries, type AccessLogEntry } from '../db/queries/access-log.ts';
import { withTenant } from '../db/tenant.ts';
import type { TenantId } from '../model/ids.ts';
import type { Logger } from './logger.ts';

const MAX_BUFFERED = 10_000;

export function createAccessLog(pool: pg.Pool, logger: Logger, flushEveryMs = 1_000) {
  let buffer: AccessLogEntry[] = [];
  let dropped = 0;
  const flush = async (): Promise<void> => {
    const batch = buffer;
    buffer = [];
    const byTenant = new Map<string | null, AccessLogEntry[]>();
    for (const e of batch) {
      const entries = byTenant.get(e.tenantId);
      if (entries) entries.push(e);
      else byTenant.set(e.tenantId, [e]);
    }
    for (const [tenantId, entries] of byTenant) {
      try {
        if (tenantId)
          await withTenant(pool, tenantId as TenantId, (db) => insertAccessLogEntries(db, entries));
        else await insertAccessLogEntries(pool, entries);
      } catch (err) {
        logger.warn(
          { err, tenantId, entries: entries.length },
          'could not write access log entries',
        );
      }
    }
    if (dropped > 0) {
      logger.warn({ dropped }, 'access log buffer was full; entries dropped');
      dropped = 0;
    }
  };
  const timer = setInterval(() => void flush(), flushEveryMs);
  timer.unref();
  return {
    record(entry: AccessLogEntry): void {
      if (buffer.length >= MAX_BUFFERED) dropped++;
      else buffer.push(entry);
    },
    flush,
    async stop(): Promise<void> {
      clearInterval(timer);
      await flush();
    },
  };
}

export type AccessLog = ReturnType<typeof createAccessLog>;
