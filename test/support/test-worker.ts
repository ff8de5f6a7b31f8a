/**
 * A real engine worker with the real step executor, for tests that drive runs end to end (the
 * browser tests): the gate allows plain HTTP only to the given local servers.
 */
import { createStepExecutor, dbLogSink } from '../../src/cli/executor.ts';
import { withPinnedOutputs } from '../../src/cli/pinned-executor.ts';
import { withWaitLinks } from '../../src/cli/wait-links-executor.ts';
import type { StepExecutor } from '../../src/model/step.ts';
import { createWaitTokens } from '../../src/security/wait-tokens.ts';
import { createWorker, type Worker } from '../../src/engine/worker.ts';
import { runnerMapping } from '../../src/runner/mapping-evaluator.ts';
import type { SecretBox } from '../../src/security/crypto/secret-box.ts';
import { testLogger, type TestDatabase } from './db.ts';
import { engineDeps } from './engine-factories.ts';
import { codeConfig, gateConfig } from './runner-harness.ts';

export function startTestWorker(
  db: TestDatabase,
  opts: { allowHttpHosts?: string[]; secretBox?: SecretBox; publicUrl?: string } = {},
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
    executor: withWaitLinksIf(
      withPinnedOutputs(executor, dbLogSink(db.pool, { now: () => new Date() })),
      db,
      opts,
    ),
    listenUrl: db.appUrl,
    // As `switchyard worker` wires it: version-2 control steps evaluate their mappings.
    mapping: runnerMapping,
  });
  worker.start();
  return worker;
}

/** As `switchyard worker` wires it: `run.waits` links, when the test gives the secret box. */
function withWaitLinksIf(
  inner: StepExecutor,
  db: TestDatabase,
  opts: { secretBox?: SecretBox; publicUrl?: string },
): StepExecutor {
  if (!opts.secretBox) return inner;
  const waitTokens = createWaitTokens({
    secretBox: opts.secretBox,
    publicUrl: opts.publicUrl ?? 'http://127.0.0.1',
  });
  return withWaitLinks(inner, { pool: db.pool, waitTokens });
}
