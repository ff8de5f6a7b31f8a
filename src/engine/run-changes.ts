/**
 * Notifications sent after a commit instead of at it: the run changes of the engine's hot
 * statements (run starts, attempt starts, step transitions) on `sy_run_changes`, with the
 * payload of the triggers of 0012 (`{"t": tenant, "r": [[run id, workflow id, run status], …]}`,
 * at most 40 runs a notification), and the workers' wake-up on the jobs channel.
 *
 * A transaction that notifies holds PostgreSQL's notification lock from just before its commit
 * until the commit is done, WAL flush included: notifying transactions commit one after the
 * other, each waiting for the flush of the one before (migration 0016; bench/RESULTS.md, round
 * four). The statement here writes nothing, so its commit waits for no WAL flush and holds the
 * lock only for an instant.
 *
 * One sender per pool, so per process: one send at a time, in the order of the commits that
 * queued them (a view must not see a run's `running` after its `succeeded`); what is committed
 * meanwhile goes with the next send. A failed send is logged and dropped: like a notification
 * lost while a LISTEN connection is down, it costs a stale view until the next change, or a
 * worker's wake-up until its next poll.
 */
import type pg from 'pg';
import { JOBS_CHANNEL } from '../db/queries/jobs.ts';
import type { RunId, TenantId, WorkflowId } from '../model/ids.ts';
import type { Logger } from '../observability/logger.ts';

const CHANNEL = 'sy_run_changes';
const PER_NOTIFICATION = 40;

export type RunChangeRow = [RunId, WorkflowId, string];

export type RunChangeSender = {
  /** Queues the changes of one committed statement (one tenant). */
  send(tenantId: TenantId, runs: RunChangeRow[]): void;
  /** Queues a wake-up of the workers: a committed statement made jobs due now. */
  wakeWorkers(): void;
};

const senders = new WeakMap<pg.Pool, RunChangeSender>();

/** The sender of `pool` (created on first use). */
export function runChangeSenderOf(pool: pg.Pool, logger: Logger): RunChangeSender {
  let sender = senders.get(pool);
  if (!sender) senders.set(pool, (sender = createRunChangeSender(pool, logger)));
  return sender;
}

function createRunChangeSender(pool: pg.Pool, logger: Logger): RunChangeSender {
  let channels: string[] = [];
  let payloads: string[] = [];
  let wakeQueued = false;
  let sending = false;
  const pump = (): void => {
    if (sending || channels.length === 0) return;
    const batch = [channels, payloads];
    channels = [];
    payloads = [];
    wakeQueued = false;
    sending = true;
    pool
      .query({
        // Named: parsed and planned once per connection, not at each send.
        name: 'sy_send_run_changes',
        text: `select pg_notify(c, p) from unnest($1::text[], $2::text[]) with ordinality as u(c, p, n)
          order by n`,
        values: batch,
      })
      .catch((err: unknown) =>
        logger.debug({ err: (err as Error).message }, 'run-change notification not sent'),
      )
      .finally(() => {
        sending = false;
        pump();
      });
  };
  return {
    send(tenantId, runs) {
      // One entry per run (the last status given for it wins), as the triggers did.
      const unique = [...new Map(runs.map((r) => [r[0], r])).values()];
      for (let i = 0; i < unique.length; i += PER_NOTIFICATION) {
        channels.push(CHANNEL);
        payloads.push(JSON.stringify({ t: tenantId, r: unique.slice(i, i + PER_NOTIFICATION) }));
      }
      pump();
    },
    wakeWorkers() {
      // PostgreSQL folds identical notifications of one transaction: one is enough.
      if (!wakeQueued) {
        wakeQueued = true;
        channels.push(JOBS_CHANNEL);
        payloads.push('');
      }
      pump();
    },
  };
}
