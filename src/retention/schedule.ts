/**
 * Runs retention every RETENTION_INTERVAL_MS in a long-running process (`start`, `scheduler`).
 * Any number of processes may schedule it: the advisory lock in runRetention lets one of them
 * work at a time and the others skip their turn.
 */
import { describePgError } from '../db/pool.ts';
import type { RetentionDeps } from './deps.ts';
import { runRetention } from './run.ts';

/**
 * The first run comes soon after start rather than one interval later, so that processes
 * restarted more often than the interval (frequent deploys) still run retention.
 */
const FIRST_RUN_DELAY_MS = 60_000;

export type RetentionSchedule = { stop(): Promise<void> };

export function startRetentionSchedule(
  deps: RetentionDeps,
  opts: { firstRunDelayMs?: number } = {},
): RetentionSchedule {
  const intervalMs = deps.config.intervalMs;
  if (intervalMs === 0) {
    deps.logger.info('retention scheduling is off (RETENTION_INTERVAL_MS=0)');
    return { stop: () => Promise.resolve() };
  }
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;

  const schedule = (delayMs: number) => {
    if (abort.signal.aborted) return;
    timer = setTimeout(() => {
      current = runRetention(deps, { dryRun: false, signal: abort.signal }).then(
        (report) => {
          if (report.skipped) deps.logger.debug('retention skipped: another process runs it');
        },
        (err: unknown) =>
          deps.logger.error({ err: describePgError(err) }, 'retention run failed; retrying'),
      );
      void current.finally(() => schedule(intervalMs));
    }, delayMs);
  };
  schedule(Math.min(opts.firstRunDelayMs ?? FIRST_RUN_DELAY_MS, intervalMs));

  return {
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await current;
    },
  };
}
