/**
 * The cron scheduler. Each due trigger fires exactly once per scheduled time with any number
 * of schedulers: a scheduler locks one due trigger (FOR UPDATE SKIP LOCKED, system scope),
 * switches the transaction to the trigger's tenant, starts the run with the idempotency key
 * `cron:<trigger>:<scheduled time>` and plans the next time, and commits all of it at once.
 * Another scheduler skips the locked row and, after the commit, finds it no longer due; were
 * it ever to fire the same time again, the key would make it return the existing run.
 *
 * After downtime, the missed times fire once: one run for the latest missed time, with the
 * number of times skipped in its input, and the next time is planned from now.
 */
import { Cron } from 'croner';
import {
  enterTenantScope,
  lockDueCronTrigger,
  updateCronSchedule,
} from '../db/queries/triggers.ts';
import { describePgError } from '../db/pool.ts';
import { withSystem } from '../db/tenant.ts';
import { isSwitchyardError } from '../model/errors.ts';
import type { EngineDeps } from './deps.ts';
import { startRunInTransaction } from './start-run.ts';
import { recordTriggerSampleIn } from './trigger-sample.ts';
import { SpanKind, SpanStatusCode, startSpan, traceparentOf } from '../observability/tracing.ts';

/** A trigger whose expression cannot be parsed is parked here (and logged) until edited. */
const NEVER = new Date('9999-12-31T00:00:00Z');
/** At most this many missed times are walked to find the latest (every-second crons). */
const MAX_MISSED_WALK = 100_000;
/** Triggers one tick handles before yielding. */
const MAX_FIRES_PER_TICK = 500;

export type FireResult = 'fired' | 'planned' | 'invalid' | 'none';

export type Scheduler = {
  start(): void;
  stop(): Promise<void>;
  /** Fires everything due now; returns how many runs were started. */
  tick(): Promise<number>;
};

export function createScheduler(deps: Omit<EngineDeps, 'random'>): Scheduler {
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<number> | undefined;
  let stopped = false;

  const tick = async (): Promise<number> => {
    let fired = 0;
    for (let i = 0; i < MAX_FIRES_PER_TICK && !stopped; i++) {
      const r = await fireOne(deps);
      if (r === 'none') break;
      if (r === 'fired') fired++;
    }
    return fired;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      current = tick().catch((err: unknown) => {
        deps.logger.warn({ err: describePgError(err) }, 'scheduler tick failed; retrying');
        return 0;
      });
      void current.finally(schedule);
    }, deps.config.schedulerPollMs);
  };

  return {
    tick,
    start() {
      schedule();
      deps.logger.info('scheduler started');
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}

/**
 * The first time a new (or changed) cron trigger fires, planned when it is saved: planning it
 * at the scheduler's next tick instead would skip a time that falls between the save and that
 * tick. Null when the expression or zone does not parse (the scheduler parks it and logs).
 */
export function firstCronFireAt(
  config: { expression?: unknown; timezone?: unknown },
  now: Date,
): Date | null {
  if (typeof config.expression !== 'string') return null;
  const timezone = typeof config.timezone === 'string' ? config.timezone : 'UTC';
  try {
    return new Cron(config.expression, { timezone, paused: true }).nextRun(now) ?? NEVER;
  } catch {
    return null;
  }
}

/** Handles one due trigger in one transaction. */
export async function fireOne(deps: Omit<EngineDeps, 'random'>): Promise<FireResult> {
  const now = deps.clock.now();
  return withSystem(deps.pool, async (db): Promise<FireResult> => {
    const t = await lockDueCronTrigger(db, { now });
    if (!t) return 'none';
    let cron: Cron;
    try {
      cron = new Cron(t.expression, { timezone: t.timezone ?? 'UTC', paused: true });
    } catch (err) {
      deps.logger.warn(
        { triggerId: t.id, expression: t.expression, err: String(err) },
        'cron trigger has an invalid expression or time zone; parked until edited',
      );
      await updateCronSchedule(db, { ...t, nextFireAt: NEVER, lastFiredAt: null });
      return 'invalid';
    }
    if (t.nextFireAt === null) {
      await updateCronSchedule(db, {
        ...t,
        nextFireAt: cron.nextRun(now) ?? NEVER,
        lastFiredAt: null,
      });
      return 'planned';
    }
    let due = t.nextFireAt;
    let missed = 0;
    for (;;) {
      const n = cron.nextRun(due);
      if (!n || n.getTime() > now.getTime() || missed >= MAX_MISSED_WALK) break;
      due = n;
      missed++;
    }
    const next = cron.nextRun(now) ?? NEVER;
    await enterTenantScope(db, { tenantId: t.tenantId });
    const fireInput = { scheduledAt: due.toISOString(), missedTimes: missed };
    // Kept whether or not the run starts: a draft's schedule is the one to test with.
    await recordTriggerSampleIn(db, {
      tenantId: t.tenantId,
      triggerId: t.id,
      payload: fireInput,
      receivedAt: now,
    });
    await db.query('savepoint cron_fire');
    // The root of the run's trace (the scheduler is what started it).
    const span = startSpan('cron fire', null, {
      kind: SpanKind.PRODUCER,
      attributes: { 'switchyard.tenant_id': t.tenantId, 'switchyard.trigger_id': t.id },
    });
    try {
      const run = await startRunInTransaction(db, deps, {
        tenantId: t.tenantId,
        workflowId: t.workflowId,
        triggerId: t.id,
        input: fireInput,
        idempotencyKey: `cron:${t.id}:${due.toISOString()}`,
        traceparent: traceparentOf(span),
      });
      await db.query('release savepoint cron_fire');
      span.setAttribute('switchyard.run_id', run.runId);
      deps.logger.debug({ triggerId: t.id, scheduledAt: due, runId: run.runId }, 'cron fired');
    } catch (err) {
      // An unpublished or archived workflow: this time is skipped, the schedule goes on.
      await db.query('rollback to savepoint cron_fire');
      span.setStatus({ code: SpanStatusCode.ERROR });
      if (!isSwitchyardError(err)) throw err;
      deps.logger.warn({ triggerId: t.id, code: err.code, err: err.message }, 'cron fire skipped');
    } finally {
      span.end();
    }
    await updateCronSchedule(db, { ...t, nextFireAt: next, lastFiredAt: due });
    return 'fired';
  });
}
