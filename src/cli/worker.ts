import { runnerMapping } from '../runner/mapping-evaluator.ts';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { openDatabase } from '../db/connect.ts';
import { createEngine } from '../engine/engine.ts';
import type { Worker } from '../engine/worker.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../observability/logger.ts';
import { createMetrics, type Metrics } from '../observability/metrics.ts';
import type { SecretBox } from '../security/crypto/secret-box.ts';
import { openSecretBox } from '../security/open-secrets.ts';
import { createContext, startProcessTracing } from './context.ts';
import type { PythonSandbox } from '../runner/code/python-sandbox.ts';
import { createStepExecutor, dbLogSink, startPythonSandbox } from './executor.ts';
import { withPinnedOutputs } from './pinned-executor.ts';
import { Lifecycle } from './lifecycle.ts';
import { startNotifier } from './notifier.ts';
import { metricsObserver } from './engine-metrics.ts';
import { serveWorkerMetrics } from './worker-metrics.ts';

/**
 * `switchyard worker`: claims and runs steps until SIGTERM, then drains (SHUTDOWN_DEADLINE_MS);
 * serves its metrics at WORKER_METRICS_PORT when set.
 */
export async function workerCommand(args: string[]): Promise<void> {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
  const { config, logger } = createContext({ logsTo: 'stdout', name: 'switchyard-worker' });
  const lifecycle = new Lifecycle(logger);
  lifecycle.handleSignals();
  startProcessTracing(config, 'switchyard-worker', lifecycle);
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard-worker',
  });
  lifecycle.onStop('database', () => db.close());
  const secrets = await openSecretBox(config.security, {
    dataDir: config.database.dataDir,
    embeddedDatabase: db.embedded,
    logger,
    pool: db.pool,
  });
  const metrics = createMetrics();
  // Before the worker claims anything: a port in use stops the start with nothing claimed.
  const port = config.server.workerMetricsPort;
  const served =
    port === null
      ? null
      : await serveWorkerMetrics(metrics, { host: config.server.host, port }, logger).catch(
          async (err: unknown) => {
            await lifecycle.stop();
            throw err;
          },
        );
  const python = startPythonSandbox(config.runner, logger);
  lifecycle.onStop('python sandbox', () => Promise.resolve(python.close()));
  const worker = startWorker(db.pool, config, logger, secrets, metrics, python);
  lifecycle.onStop('worker', () => worker.stop());
  const notifier = startNotifier(db.pool, config, logger, secrets);
  lifecycle.onStop('failure notifier', () => notifier.stop());
  if (served) lifecycle.onStop('metrics', () => served.close());
}

/**
 * A worker on `pool` with the runner's executor; LISTENs on DATABASE_LISTEN_URL or else the
 * pool's own URL (a transaction pooler cannot carry LISTEN), counts attempts and run ends into
 * `metrics`.
 */
export function startWorker(
  pool: pg.Pool,
  config: Config,
  logger: Logger,
  secretBox: SecretBox,
  metrics: Metrics,
  python?: PythonSandbox,
): Worker {
  const engine = createEngine({ pool, logger, config: config.engine });
  const listenUrl = config.database.listenUrl ?? pool.options.connectionString;
  const worker = engine.createWorker({
    executor: withPinnedOutputs(
      createStepExecutor({
        logger,
        pool,
        config: config.runner,
        secretBox,
        ...(python ? { python } : {}),
      }),
      dbLogSink(pool, { now: () => new Date() }),
    ),
    ...(listenUrl ? { listenUrl } : {}),
    observer: metricsObserver(metrics),
    mapping: runnerMapping,
  });
  worker.start();
  return worker;
}
