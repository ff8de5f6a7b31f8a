/**
 * Access history: every GraphQL operation and API-token use, buffered in memory and written in
 * batches (one statement per tenant per flush) so that reads do not pay a write each. It is a
 * compliance record: a batch the database refuses (restart, failover, a revoked grant) stays
 * in the buffer and is written on a later flush. Memory is bounded (MAX_BUFFERED); an entry
 * that cannot be kept is counted on /metrics (switchyard_access_log_dropped_total), never lost
 * silently. Anonymous, tenant-less entries (failed sign-ins, rejected webhooks) are written
 * with no tenant and are visible to operators only.
 */
import type pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import { isConnectionError } from '../db/pool.ts';
import { insertAccessLogEntries, type AccessLogEntry } from '../db/queries/access-log.ts';
import { withTenant } from '../db/tenant.ts';
import type { TenantId } from '../model/ids.ts';
import type { Logger } from './logger.ts';

/**
 * Entries kept while the database refuses them. At ~300 bytes each, 50,000 is ~15 MB, and a
 * busy API (500 operations/s) fills it in 100 s: longer than a PostgreSQL restart or failover.
 */
export const MAX_BUFFERED = 50_000;
/** How many times stop() tries to write what is left before it gives up (and counts it). */
const STOP_ATTEMPTS = 5;

export type DropReason = 'buffer_full' | 'rejected' | 'shutdown';

export type AccessLogOptions = {
  flushEveryMs?: number;
  maxBuffered?: number;
  /** Where the dropped/pending metrics are registered (the process's /metrics registry). */
  registry?: Registry;
};

export function createAccessLog(pool: pg.Pool, logger: Logger, opts: AccessLogOptions = {}) {
  const flushEveryMs = opts.flushEveryMs ?? 1_000;
  const maxBuffered = opts.maxBuffered ?? MAX_BUFFERED;
  const registers = opts.registry ? [opts.registry] : [];
  const droppedTotal = new Counter({
    name: 'switchyard_access_log_dropped_total',
    help: 'Access-history entries that could not be kept, by reason: buffer_full (the database refused writes for longer than the buffer lasts), rejected (the database refused the entry itself), shutdown (still unwritten when the process stopped).',
    labelNames: ['reason'] as const,
    registers,
  });
  new Gauge({
    name: 'switchyard_access_log_pending',
    help: 'Access-history entries buffered in memory, not yet written (grows while the database refuses writes).',
    registers,
    collect() {
      this.set(buffer.length);
    },
  });
  let buffer: AccessLogEntry[] = [];
  let failingSince: Date | undefined;
  let inFlight: Promise<boolean> | undefined;

  let unloggedBufferFull = 0;
  const drop = (reason: DropReason, n: number) => {
    if (n <= 0) return;
    droppedTotal.inc({ reason }, n);
    logger.error({ dropped: n, reason }, 'access log entries dropped');
  };

  /** Writes one tenant's entries; returns those to keep for a retry. */
  const write = async (tenantId: string | null, entries: AccessLogEntry[]) => {
    try {
      await insert(tenantId, entries);
      return [];
    } catch (err) {
      if (!isRejectionOfTheData(err)) return logFailure(err, entries);
    }
    // The statement was refused for its data: write entries one by one so that one bad
    // entry does not hold back (or take down) the others.
    const keep: AccessLogEntry[] = [];
    for (const entry of entries) {
      try {
        await insert(tenantId, [entry]);
      } catch (err) {
        if (isRejectionOfTheData(err)) {
          logger.error({ err, tenantId, outcome: entry.outcome }, 'access log entry refused');
          drop('rejected', 1);
        } else keep.push(...logFailure(err, [entry]));
      }
    }
    return keep;
  };
  const insert = (tenantId: string | null, entries: AccessLogEntry[]) =>
    tenantId
      ? withTenant(pool, tenantId as TenantId, (db) => insertAccessLogEntries(db, entries))
      : insertAccessLogEntries(pool, entries);
  const logFailure = (err: unknown, entries: AccessLogEntry[]) => {
    if (!failingSince) {
      failingSince = new Date();
      logger.warn(
        { err, entries: entries.length, pending: buffer.length + entries.length },
        'could not write access log entries; keeping them to retry',
      );
    }
    return entries;
  };

  /** One pass over the buffer. True when everything taken was written. */
  const flushOnce = async (): Promise<boolean> => {
    if (unloggedBufferFull > 0) {
      logger.error(
        { dropped: unloggedBufferFull, reason: 'buffer_full' },
        'access log entries dropped',
      );
      unloggedBufferFull = 0;
    }
    const batch = buffer;
    buffer = [];
    const byTenant = new Map<string | null, AccessLogEntry[]>();
    for (const e of batch) {
      const entries = byTenant.get(e.tenantId);
      if (entries) entries.push(e);
      else byTenant.set(e.tenantId, [e]);
    }
    const kept: AccessLogEntry[] = [];
    for (const [tenantId, entries] of byTenant) kept.push(...(await write(tenantId, entries)));
    if (kept.length === 0) {
      if (failingSince && batch.length > 0) {
        logger.info(
          { since: failingSince.toISOString(), written: batch.length },
          'access log entries written again after a failure',
        );
        failingSince = undefined;
      }
      return true;
    }
    // Older entries first; what arrived meanwhile goes after them, within the cap.
    const merged = kept.concat(buffer);
    buffer = merged.slice(0, maxBuffered);
    drop('buffer_full', merged.length - buffer.length);
    return false;
  };
  const flush = (): Promise<boolean> => {
    // One write at a time: a database that hangs (a lock) must not stack up flushes.
    inFlight ??= flushOnce().finally(() => (inFlight = undefined));
    return inFlight;
  };

  const timer = setInterval(() => void flush(), flushEveryMs);
  timer.unref();
  return {
    record(entry: AccessLogEntry): void {
      if (buffer.length < maxBuffered) buffer.push(entry);
      else {
        // Counted now, logged once per flush (not once per request).
        droppedTotal.inc({ reason: 'buffer_full' });
        unloggedBufferFull++;
      }
    },
    /** Writes what is buffered; resolves false when some entries are kept for a retry. */
    flush,
    pending: () => buffer.length,
    async stop(): Promise<void> {
      clearInterval(timer);
      for (let attempt = 1; attempt <= STOP_ATTEMPTS; attempt++) {
        if (await flush()) return;
        await new Promise((r) => setTimeout(r, flushEveryMs));
      }
      drop('shutdown', buffer.length);
      buffer = [];
    },
  };
}

/**
 * Did PostgreSQL refuse the entries themselves (invalid data, class 22; a constraint, class
 * 23)? Retrying those would never succeed. Everything else (connection lost, server shutting
 * down, privileges revoked, lock timeouts) may pass later, so the entries are kept.
 */
function isRejectionOfTheData(err: unknown): boolean {
  if (isConnectionError(err)) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

export type AccessLog = ReturnType<typeof createAccessLog>;
