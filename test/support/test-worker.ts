/**
 * A real engine worker with the real step executor, for tests that drive runs end to end (the
 * browser tests): the gate allows plain HTTP only to the given local servers.
 */
import { createStepExecutor, dbLogSink } from '../../src/cli/executor.ts';
import { withPinnedOutputs } from '../../src/cli/pinned-executor.ts';
import { runnerMapping } from '../../src/runner/mapping-evaluator.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import type { SecretBox } from '../../src/security/crypto/secret-box.ts';
import { testLogger, type TestDatabase } from './db.ts';
import { engineDeps } from './engine-factories.ts';
import { codeConfig, gateConfig } from './runner-harness.ts';

export function startTestWorker(
  db: TestDatabase,
  opts: { allowHttpHosts?: string[]; secretBox?: SecretBox } = {},
): Worker {
  const executor = createStepExecutor({
    logger: testLogger,
    pool: db.pool,
    ...(opts.secretBox ? { secretBox: opts.secretBox } : {}),
    config: {
      gate: gateConfig(opts.allowHttpHosts ?? []),
      code: codeConfig({ timeoutMs: 5_000 }),
      breaker: { failureThreshold: 100, cooldownMs: 1_000 },
    },
  });
  const worker = createWorker(engineDeps(db.pool), {
    executor: withPinnedOutputs(executor, dbLogSink(db.pool, { now: () => new Date() })),
    listenUrl: db.appUrl,
    // Control steps (a switch's `when`, a loop's items) are decided with the runner's mapping,
    // as src/cli/worker.ts wires it.
    mapping: runnerMapping,
  });
  worker.start();
  return worker;
}
