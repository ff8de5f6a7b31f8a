/**
 * A worker or scheduler in its own process, for the tests whose claim is about processes
 * (SIGKILL, PostgreSQL restart, several schedulers). Run by Node 24 directly:
 *   ROLE=worker|scheduler DATABASE_APP_URL=... [INTAKE=1] node test/support/engine-process.ts
 * The worker's executor sleeps for the step input's `sleepMs` (EXECUTOR=runner: the real
 * runner of the composition root runs the step, e.g. a JavaScript code step) and prints one
 * JSON line per step start on stdout, so that the test knows when a step is in the middle of
 * running.
 */
import { createStepExecutor } from '../../src/cli/executor.ts';
import { createPool } from '../../src/db/pool.ts';
import { defaultEngineConfig } from '../../src/config/engine.ts';
import { createScheduler } from '../../src/engine/cron.ts';
import { systemClock, systemRandom } from '../../src/engine/deps.ts';
import { createWorker } from '../../src/engine/worker.ts';
import { createRunIntake } from '../../src/engine/intake.ts';
import type { StartRunInput } from '../../src/engine/start-run.ts';
import { createInterface } from 'node:readline';
import type { StepExecutor } from '../../src/model/step.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { runnerMapping } from '../../src/runner/mapping-evaluator.ts';

const url = process.env.DATABASE_APP_URL!;
const logger = createLogger({
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
  name: 'engine-process',
});
const pool = createPool({
  url,
  max: 6,
  connectTimeoutMs: 2_000,
  applicationName: 'engine-test-process',
  logger,
});
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const config = defaultEngineConfig({
  leaseMs: num('WORKER_LEASE_MS', 30_000),
  heartbeatMs: num('WORKER_HEARTBEAT_MS', 10_000),
  pollMs: num('WORKER_POLL_MS', 100),
  workerConcurrency: num('WORKER_CONCURRENCY', 4),
  schedulerPollMs: num('SCHEDULER_POLL_MS', 50),
  shutdownDeadlineMs: 2_000,
});
const deps = { pool, clock: systemClock, random: systemRandom, logger, config };
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

const runner = process.env.EXECUTOR === 'runner' ? createStepExecutor({ logger, pool }) : null;

const executor: StepExecutor = {
  async execute(req, signal) {
    emit({
      event: 'step-start',
      runId: req.context.runId,
      stepId: req.step.id,
      attempt: req.context.attempt,
      ...(req.context.loop ? { itemIndex: req.context.loop.index } : {}),
    });
    if (runner) return runner.execute(req, signal);
    const input = (req.step.input ?? {}) as { sleepMs?: number };
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, input.sleepMs ?? 0);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (signal.aborted)
      return {
        status: 'failed',
        error: { code: 'E_STEP_CANCELED', message: 'aborted', retryable: true },
      };
    // A forEach item's output says which item it is (its result in the loop's output).
    const item = req.context.loop ? { item: req.context.loop.index } : {};
    return { status: 'succeeded', input: req.step.input, output: { pid: process.pid, ...item } };
  },
};

let stop: () => Promise<void>;
if (process.env.ROLE === 'scheduler') {
  const s = createScheduler(deps);
  s.start();
  stop = () => s.stop();
} else {
  // The mapping decides version-2 control steps (a switch's `when`), as in `switchyard worker`.
  const w = createWorker(deps, { executor, listenUrl: url, mapping: runnerMapping });
  w.start();
  stop = () => w.stop();
  // INTAKE=1: one process as `switchyard start` has it, its intake handing runs to its worker;
  // each stdin line `{ tenantId, workflowId, input }` starts a run (printed once committed).
  if (process.env.INTAKE === '1') {
    const intake = createRunIntake(deps);
    intake.handOffTo(w.handOff);
    createInterface({ input: process.stdin }).on('line', (line) => {
      const p = JSON.parse(line) as StartRunInput;
      void intake.start(p).then(
        (r) => emit({ event: 'run-started', runId: r.runId }),
        (err: unknown) => emit({ event: 'run-refused', error: (err as Error).message }),
      );
    });
  }
}
emit({ event: 'ready', pid: process.pid });
process.on('SIGTERM', () => {
  void stop()
    .then(() => pool.end())
    .then(() => process.exit(0));
});
