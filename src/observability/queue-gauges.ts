/**
 * Queue gauges, read from the database when Prometheus scrapes (/metrics): jobs by state and
 * the age of the oldest due job. They describe the whole installation, not this process, so
 * every process serving /metrics reports the same values: aggregate them with max(), not sum().
 * One read serves every gauge of a scrape and is reused for `cacheMs`, so several scrapers (or
 * processes) cost one query per interval; its cost does not grow with the backlog
 * (db/queries/queue-gauges.ts).
 */
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import { selectQueueGauges, type QueueGauges } from '../db/queries/queue-gauges.ts';
import { withSystem } from '../db/tenant.ts';
import type { Logger } from './logger.ts';

/** Running and delayed jobs are counted exactly up to this many (each). */
const EXACT_COUNT_CAP = 100_000;

export function registerQueueGauges(
  registry: Registry,
  deps: { pool: pg.Pool; logger: Logger; cacheMs?: number },
): void {
  const cacheMs = deps.cacheMs ?? 2_000;
  let last: { gauges: QueueGauges; at: number } | undefined;
  let reading: Promise<QueueGauges | undefined> | undefined;
  const read = (): Promise<QueueGauges | undefined> => {
    if (last && Date.now() - last.at < cacheMs) return Promise.resolve(last.gauges);
    reading ??= withSystem(deps.pool, (db) => selectQueueGauges(db, { cap: EXACT_COUNT_CAP }))
      .then(
        (gauges) => {
          last = { gauges, at: Date.now() };
          return gauges;
        },
        (err: unknown) => {
          // A scrape must not fail because the database is down: switchyard_queue_gauges_up
          // says so, and the other gauges keep their last values.
          deps.logger.warn({ err }, 'could not read the queue gauges');
          return undefined;
        },
      )
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };

  new Gauge({
    name: 'switchyard_queue_gauges_up',
    help: '1 when this scrape could read the queue gauges from the database, else 0.',
    registers: [registry],
    async collect() {
      this.set((await read()) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'switchyard_queue_jobs',
    help: 'Jobs in the queue by state: running (claimed by a worker), delayed (waiting out a retry backoff), waiting (a waiting run, until its deadline or resume), pending (due, waiting for a worker; PostgreSQL estimate of all jobs minus the others). Whole installation: aggregate with max().',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const g = await read();
      if (!g) return;
      this.set({ state: 'running' }, g.running);
      this.set({ state: 'delayed' }, g.delayed);
      this.set({ state: 'waiting' }, g.waiting);
      this.set({ state: 'pending' }, Math.max(0, g.total - g.running - g.delayed - g.waiting));
    },
  });
  new Gauge({
    name: 'switchyard_runs_waiting',
    help: 'Runs at a wait (delay, waitUntil, waitForEvent, a child run), holding no worker; exact up to 100,000. Whole installation: aggregate with max().',
    registers: [registry],
    async collect() {
      const g = await read();
      if (g) this.set(g.waitingRuns);
    },
  });
  new Gauge({
    name: 'switchyard_queue_oldest_due_seconds',
    help: 'How long the oldest due, unclaimed job has waited (0: none due). Growing: the workers do not keep up.',
    registers: [registry],
    async collect() {
      const g = await read();
      if (g) this.set(g.oldestDueSeconds);
    },
  });
}
