/**
 * A worker: claims due steps in batches (fairly across tenants), runs each in a slot with a
 * lease that a heartbeat renews every third of it, and continues a run's next step in the same
 * slot. Wakes on NOTIFY (at commit of a start), on a poll timer, and when a slot frees.
 *
 * stop(): stop claiming, let in-flight steps finish until the deadline, then abort the rest
 * and release them (back to the queue, due now) so that another worker takes them at once.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import {
  CANCEL_CHANNEL,
  JOBS_CHANNEL,
  claimDueJobs,
  extendLeases,
  requeueExpiredAndWakeDue,
  unclaimJob,
  type ClaimedJob,
  type JobId,
} from '../db/queries/jobs.ts';
import { describePgError } from '../db/pool.ts';
import { deleteUnranAttempt } from '../db/queries/step-runs.ts';
import { systemStatements, withSystem, withTenant } from '../db/tenant.ts';
import type { StepRunId, WorkflowId } from '../model/ids.ts';
import type { Program } from '../model/program.ts';
import type { MappingEvaluator, StepExecutor } from '../model/step.ts';
import { runAttempts, type AbortReason, type AttemptDeps, type Slot } from './attempt.ts';
import { addMs, type EngineDeps } from './deps.ts';
import { createPreparer, preparedAtIntake, type KnownFirstStep, type Prepared } from './prepare.ts';
import { createTransitions } from './transitions.ts';
import { runChangeSenderOf } from './run-changes.ts';
import type { EngineObserver } from './observer.ts';
import type { HandOff } from './intake.ts';
import { listenForWakeups, type Wakeups } from './wakeups.ts';

/** How long a worker with a backlog waits for more slots to free before a small claim. */
const BATCH_WAIT_MS = 3;
/** A wake-up for a job due later comes this much after it, so that the job is due by then. */
const DUE_WAKE_MARGIN_MS = 2;
/** Waiting jobs made pending per sweep (the claim takes them from there, any worker). */
const WAKE_BATCH = 1_000;

export type WorkerOptions = {
  executor: StepExecutor;
  /** URL for the LISTEN connection; without it the worker only polls. */
  listenUrl?: string;
  workerId?: string;
  /** Told of every committed attempt outcome and run end (metrics). */
  observer?: EngineObserver;
  /** Evaluates control steps' mappings (a switch's `when`...): the runner's (runnerMapping). */
  mapping?: MappingEvaluator;
};

export type Worker = {
  readonly id: string;
  /** For the run intake of this process: new runs' jobs claimed straight for this worker. */
  readonly handOff: HandOff;
  start(): void;
  stop(): Promise<void>;
  /** Wake the claim loop now (tests advance a fake clock, then poke). */
  poke(): void;
  inFlight(): number;
};

export function createWorker(deps: EngineDeps, opts: WorkerOptions): Worker {
  const { config, logger } = deps;
  const id = opts.workerId ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  // One timer, for the earliest job this worker put back with a delay (a retry's backoff, a
  // deferral): without it a delay shorter than the poll interval would wait for the poll
  // (a 200 ms backoff took about a second). Jobs delayed by other workers wake their workers.
  let dueTimer: NodeJS.Timeout | undefined;
  let dueAt = Infinity;
  // Wake the due waits before the next claim (requeueExpiredAndWakeDue) when the timer fires.
  let sweepWaits = true;
  const wakeAfter = (delayMs: number) => {
    const at = performance.now() + delayMs + DUE_WAKE_MARGIN_MS;
    if (dueTimer && at >= dueAt) return;
    clearTimeout(dueTimer);
    dueAt = at;
    dueTimer = setTimeout(() => {
      dueTimer = undefined;
      dueAt = Infinity;
      // What is due may be a wait: its job is `waiting` until a sweep makes it pending.
      sweepWaits = true;
      poke();
    }, at - performance.now());
    dueTimer.unref();
  };
  const workerDeps = {
    ...deps,
    workerId: id,
    wakeAfter,
    runChanges: runChangeSenderOf(deps.pool, logger),
    programs: new Map<string, Program>(),
    firstSteps: new Map<WorkflowId, KnownFirstStep>(),
    ...(opts.observer ? { observer: opts.observer } : {}),
    ...(opts.mapping ? { mapping: opts.mapping } : {}),
  };
  // Claimed steps are prepared, and outcomes recorded, in transactions shared by the slots
  // (of one tenant) that get there together: group commit.
  const preparer = createPreparer(workerDeps);
  const attemptDeps: AttemptDeps = {
    ...workerDeps,
    executor: opts.executor,
    transitions: createTransitions(workerDeps),
    prepare: (job) => preparer.submit(job.tenantId, job),
  };
  const slots = new Map<JobId, Slot>();
  const running = new Set<Promise<void>>();
  let stopping = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let pending = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let wakeups: Wakeups | undefined;
  let lastRequeueAt = 0;
  // The last claim left due jobs behind (a tenant at its cap or its share, a full batch), or
  // had no free slot to claim with (or none ran yet): the queue may hold due jobs, so a slot
  // that frees claims again and the intake hands over nothing.
  let backlog = true;
  // Slots held by the intake for runs it is creating claimed for this worker (handOff).
  let reserved = 0;

  const poke = () => {
    pending = true;
    wake?.();
  };

  const waitForWake = (ms: number) =>
    new Promise<void>((resolve) => {
      if (pending || stopping) {
        pending = false;
        resolve();
        return;
      }
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        pending = false;
        resolve();
      }
      wake = done;
    });

  /**
   * A job this worker holds but will not start: back to the queue, due now, uncounted (with the
   * StepRun of its attempt if the intake had started it: an attempt that did not happen).
   */
  const giveBack = (job: ClaimedJob, started?: StepRunId) =>
    withTenant(deps.pool, job.tenantId, async (db) => {
      const unclaimed = await unclaimJob(db, {
        tenantId: job.tenantId,
        jobId: job.jobId,
        attempt: job.attempt,
        workerId: id,
        runAt: deps.clock.now(),
      });
      // Only while the claim was still ours: otherwise the attempt is another claim's to count.
      if (unclaimed && started)
        await deleteUnranAttempt(db, { tenantId: job.tenantId, stepRunId: started });
      return unclaimed;
    });

  const abortSlot = (slot: Slot, reason: AbortReason) => {
    if (slot.controller.signal.aborted) return;
    slot.reason = reason;
    slot.controller.abort(new Error(`step aborted: ${reason}`));
  };

  // A slot stays under the id of the job it was started with; a forEach item's slot goes on
  // with another job (the next item), so a job is looked up by the slots' current jobs.
  const slotOfJob = (jobId: JobId) => [...slots.values()].find((s) => s.job.jobId === jobId);

  const runSlot = async (slot: Slot, key: JobId, first: Prepared | undefined) => {
    try {
      {
        const next = await runAttempts(
          attemptDeps,
          slot,
          () => !stopping && !slot.controller.signal.aborted,
          first ? Promise.resolve(first) : preparer.submit(slot.job.tenantId, slot.job),
        );
        if (next) {
          // Claimed for the next step but not started (the worker is stopping): give it back
          // uncounted.
          await giveBack(next);
          return;
        }
      }
    } catch (err) {
      // The database failed mid-attempt: the lease expires and another claim retries it.
      logger.warn({ err: describePgError(err), jobId: slot.job.jobId }, 'attempt interrupted');
    } finally {
      slots.delete(key);
      // Without a backlog the queue held nothing due at the last claim, and a job queued since
      // woke this worker (NOTIFY, its timer) or comes with the next poll: nothing to claim.
      if (backlog) poke();
    }
  };

  /** `first`: the job's attempt, already prepared (started by the intake). */
  const startSlot = (job: ClaimedJob, first?: Prepared) => {
    const slot: Slot = { job, controller: new AbortController(), reason: undefined };
    slots.set(job.jobId, slot);
    const p = runSlot(slot, job.jobId, first);
    running.add(p);
    void p.finally(() => running.delete(p));
  };

  const claimLoop = async () => {
    let errorDelayMs = 100;
    // With a backlog, claim in batches of at least a quarter of the slots (a claim costs about
    // the same for 1 job as for 32); without one, claim at once (latency).
    const minBatch = Math.max(1, Math.floor(config.workerConcurrency / 4));
    while (!stopping) {
      try {
        const free = config.workerConcurrency - slots.size - reserved;
        if (backlog && free > 0 && free < minBatch && slots.size > 0) {
          await waitForWake(BATCH_WAIT_MS);
          if (config.workerConcurrency - slots.size - reserved < minBatch)
            await waitForWake(BATCH_WAIT_MS);
        }
        if (free > 0) {
          // Upkeep (every poll; at once when this worker's timer says a wait is due): expired
          // leases back to the queue, waits whose deadline passed made pending to be claimed.
          if (sweepWaits || performance.now() - lastRequeueAt >= config.pollMs) {
            sweepWaits = false;
            lastRequeueAt = performance.now();
            const now = deps.clock.now();
            const { requeued, woken, nextDue } = await withSystem(deps.pool, (db) =>
              requeueExpiredAndWakeDue(db, { now, limit: WAKE_BATCH }),
            );
            if (requeued > 0) logger.info({ jobs: requeued }, 'requeued jobs whose lease expired');
            if (woken === WAKE_BATCH) sweepWaits = true;
            // A wait due before the next poll (recorded by any worker, long ago or now): sweep
            // at its deadline, not up to a poll interval late.
            const dueInMs = nextDue ? nextDue.getTime() - now.getTime() : Infinity;
            if (dueInMs < config.pollMs) wakeAfter(Math.max(0, dueInMs));
          }
          // The claim is its whole transaction: one round trip (systemStatements).
          const { jobs, more } = await claimDueJobs(
            systemStatements(deps.pool, { genericPlans: true }),
            {
              now: deps.clock.now(),
              workerId: id,
              limit: free,
              leaseMs: config.leaseMs,
              tenantMaxConcurrency: config.tenantMaxConcurrency,
              relaxDurability: true,
            },
          );
          for (const job of jobs) startSlot(job);
          errorDelayMs = 100;
          // More may be due (a tenant's cap or share held some back, the batch was full), or
          // the claim took all the queue held due for this worker: then the intake hands new
          // runs over again, even while the runs it queued before are still running.
          backlog = more;
          if (jobs.length === free) continue;
        } else backlog = true;
        await waitForWake(config.pollMs);
      } catch (err) {
        logger.warn({ err: describePgError(err) }, 'claim failed; retrying');
        await waitForWake(errorDelayMs);
        errorDelayMs = Math.min(errorDelayMs * 2, 5_000);
      }
    }
  };

  const renewLeases = async () => {
    // The jobs as they are now: a slot may go on with another job meanwhile (a forEach's next
    // item), whose lease this renewal did not ask for.
    const held = [...slots.values()].map((s) => ({ slot: s, job: s.job }));
    if (held.length === 0) return;
    try {
      const still = new Set(
        await withSystem(deps.pool, (db) =>
          extendLeases(db, {
            workerId: id,
            jobs: held.map(({ job }) => ({ tenantId: job.tenantId, jobId: job.jobId })),
            leaseUntil: addMs(deps.clock.now(), config.leaseMs),
          }),
        ),
      );
      for (const { slot: s, job } of held) {
        // A slot that finished meanwhile is gone from `slots`; only live ones can be lost.
        if (!still.has(job.jobId) && s.job === job && !s.recording && slotOfJob(job.jobId) === s)
          abortSlot(s, 'lease-lost');
      }
    } catch (err) {
      logger.warn({ err: describePgError(err) }, 'lease renewal failed');
    }
  };

  const handOff: HandOff = {
    workerId: id,
    reserve(max) {
      // Not while the queue may hold due jobs: the claim takes those first, fairly.
      if (!loop || stopping || backlog) return 0;
      const n = Math.max(0, Math.min(max, config.workerConcurrency - slots.size - reserved));
      reserved += n;
      return n;
    },
    firstStart: (workflowId) => workerDeps.firstSteps.get(workflowId) ?? null,
    adopt(handed, held) {
      reserved -= held;
      for (const { start, ...job } of handed) {
        if (!stopping) {
          startSlot(job, start ? preparedAtIntake(workerDeps, job, start) : undefined);
          continue;
        }
        // Claimed while the worker began to stop: back to the queue uncounted, for another.
        giveBack(job, start?.stepRunId).catch((err: unknown) =>
          logger.warn(
            { err: describePgError(err), jobId: job.jobId },
            'handed-over job not returned',
          ),
        );
      }
    },
  };

  return {
    id,
    handOff,
    poke,
    inFlight: () => slots.size,
    start() {
      if (loop) return;
      if (opts.listenUrl) {
        wakeups = listenForWakeups({
          connectionString: opts.listenUrl,
          channels: [JOBS_CHANNEL, CANCEL_CHANNEL],
          logger,
          onNotify: (channel, payload) => {
            if (channel === CANCEL_CHANNEL) {
              const slot = slotOfJob(Number(payload));
              if (slot) abortSlot(slot, 'canceled');
            } else poke();
          },
          onReconnect: poke,
        });
      }
      heartbeat = setInterval(() => void renewLeases(), config.heartbeatMs);
      loop = claimLoop();
      logger.info({ workerId: id, concurrency: config.workerConcurrency }, 'worker started');
    },
    async stop() {
      stopping = true;
      wake?.();
      await loop;
      await wakeups?.close();
      if (running.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((r) => {
          timer = setTimeout(r, config.shutdownDeadlineMs);
        });
        await Promise.race([Promise.allSettled([...running]), deadline]);
        clearTimeout(timer);
        if (slots.size > 0) {
          logger.warn({ jobs: slots.size }, 'shutdown deadline passed; releasing in-flight steps');
          for (const s of slots.values()) abortSlot(s, 'shutdown');
          await Promise.allSettled([...running]);
        }
      }
      clearInterval(heartbeat);
      clearTimeout(dueTimer);
      logger.info({ workerId: id }, 'worker stopped');
    },
  };
}
