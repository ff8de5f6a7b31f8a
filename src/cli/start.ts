import { parseArgs } from 'node:util';
import { addMissingBuiltinApps } from '../accounts/builtin-apps.ts';
import { openDatabase } from '../db/connect.ts';
import { startPartitionMaintenance } from '../db/partitions.ts';
import { startRetentionSchedule } from '../retention/schedule.ts';
import { createContext, startProcessTracing } from './context.ts';
import { Lifecycle } from './lifecycle.ts';
import { serveHttp } from './serve.ts';
import { startNotifier } from './notifier.ts';
import { startWorker } from './worker.ts';
import { pythonReadinessCheck } from '../runner/code/python-sandbox.ts';
import { startPythonSandbox } from './executor.ts';

/** `switchyard start`: API, webhooks, worker and scheduler in one process. */
export async function startCommand(args: string[]): Promise<void> {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
  const { config, logger } = createContext({ logsTo: 'stdout', name: 'switchyard' });
  const lifecycle = new Lifecycle(logger);
  lifecycle.handleSignals();
  startProcessTracing(config, 'switchyard', lifecycle);
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard',
  });
  lifecycle.onStop('database', () => db.close());
  // Stoppers run in reverse order of registration: HTTP stops first (registered last, by
  // serveHttp), then retention and the scheduler, then the worker drains, then the database.
  const worker = { stop: () => Promise.resolve() };
  lifecycle.onStop('worker', () => worker.stop());
  const scheduler = { stop: () => Promise.resolve() };
  lifecycle.onStop('scheduler', () => scheduler.stop());
  const retention = { stop: () => Promise.resolve() };
  lifecycle.onStop('retention', () => retention.stop());
  const notices = { stop: () => Promise.resolve() };
  lifecycle.onStop('failure notifier', () => notices.stop());
  // Python steps' sandbox: its self-check runs now; /readyz shows its verdict.
  const python = startPythonSandbox(config.runner, logger);
  lifecycle.onStop('python sandbox', () => Promise.resolve(python.close()));
  // Tenants made by an earlier release get the built-in apps added since (as `migrate` does).
  const added = await addMissingBuiltinApps(db.pool);
  if (added > 0)
    logger.info({ added }, 'added the built-in apps new in this release to every tenant');
  const served = await serveHttp(config, db, logger, lifecycle, [pythonReadinessCheck(python)]);
  // Once serving: a start-up that fails before (port in use) must not leave a query in
  // flight on a pool it is closing. Partitions ahead of today exist from earlier runs, and
  // rows with no partition land in the default one.
  const stopPartitionMaintenance = startPartitionMaintenance(db.pool, logger);
  lifecycle.onStop('partition maintenance', () => Promise.resolve(stopPartitionMaintenance()));
  const running = startWorker(db.pool, config, logger, served.secrets, served.metrics, python);
  worker.stop = () => running.stop();
  // One process: the webhooks' and the API's new runs go straight to this worker while it has
  // free slots and the queue nothing due (engine/intake.ts, HandOff).
  served.engine.handRunsTo(running.handOff);
  const notifier = startNotifier(db.pool, config, logger, served.secrets);
  notices.stop = () => notifier.stop();
  const cron = served.engine.createScheduler();
  cron.start();
  scheduler.stop = () => cron.stop();
  const retentionSchedule = startRetentionSchedule({
    pool: db.pool,
    config: config.retention,
    logger,
    clock: { now: () => new Date() },
    metrics: served.metrics,
  });
  retention.stop = () => retentionSchedule.stop();
  logger.info(
    { url: served.url, embeddedDatabase: db.embedded },
    `Switchyard is running at ${served.url}`,
  );
}
