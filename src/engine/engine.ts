/**
 * The engine's composition: `createEngine({ pool, clock, random, logger, config })` gives the
 * API and the CLI everything they call; workers and schedulers are created from it.
 */
import type { DeadLetterFilter } from '../db/queries/dead-letters.ts';
import type { RunId, TenantId } from '../model/ids.ts';
import { createBackpressure, type Backpressure } from './backpressure.ts';
import { cancelRun, type Actor } from './cancel.ts';
import { createScheduler, type Scheduler } from './cron.ts';
import {
  listDeadLetters,
  replayDeadLetter,
  replayDeadLetters,
  type ReplayRequest,
} from './dead-letter.ts';
import { systemClock, systemRandom, type EngineDeps } from './deps.ts';
import { createRunIntake, type HandOff } from './intake.ts';
import { startRunInTransaction, type StartRunInput } from './start-run.ts';
import { startTestRunIn, type StartTestRunInput } from './test-run.ts';
import type { Queryable } from '../db/pool.ts';
import { createWorker, type Worker, type WorkerOptions } from './worker.ts';

export type Engine = ReturnType<typeof createEngine>;

export function createEngine(
  input: Omit<EngineDeps, 'clock' | 'random'> & Partial<Pick<EngineDeps, 'clock' | 'random'>>,
) {
  const deps: EngineDeps = {
    ...input,
    clock: input.clock ?? systemClock,
    random: input.random ?? systemRandom,
  };
  const backpressure: Backpressure = createBackpressure(deps);
  const intake = createRunIntake(deps);
  return {
    deps,
    backpressure,
    /** Starts a run in its own transaction, committed together with starts arriving with it. */
    startRun: async (p: StartRunInput) => {
      await backpressure.assertAccepting(p.tenantId);
      return intake.start(p);
    },
    /**
     * Resolves once every start submitted to `startRun` so far has its answer: a stopping API
     * waits for it before closing the database, so a start whose caller went away still lands.
     */
    drain: () => intake.idle(),
    /** The same inside the caller's tenant transaction (e.g. with its audit event). */
    startRunIn: async (db: Queryable, p: StartRunInput) => {
      await backpressure.assertAccepting(p.tenantId);
      return startRunInTransaction(db, deps, p);
    },
    /** A draft's test run in the caller's tenant transaction (test-run.ts). */
    startTestRunIn: (db: Queryable, p: StartTestRunInput) =>
      startTestRunIn(db, { clock: deps.clock, backpressure }, p),
    cancelRun: (p: { tenantId: TenantId; runId: RunId; actor: Actor }) => cancelRun(deps, p),
    listDeadLetters: (p: { tenantId: TenantId; filter: DeadLetterFilter }) =>
      listDeadLetters(deps, p),
    replayDeadLetter: (p: ReplayRequest & { deadLetterId: string }) => replayDeadLetter(deps, p),
    replayDeadLetters: (p: ReplayRequest & { filter: DeadLetterFilter }) =>
      replayDeadLetters(deps, p),
    createWorker: (opts: WorkerOptions): Worker => createWorker(deps, opts),
    /** A worker of this process takes new runs from startRun directly (intake.ts, HandOff). */
    handRunsTo: (worker: HandOff | null) => intake.handOffTo(worker),
    createScheduler: (): Scheduler => createScheduler(deps),
  };
}
