/**
 * The run changes of the worker's own statements (attempt starts, step transitions), sent on
 * `sy_run_changes` after their commit (migration 0016), with the payload of the triggers of
 * 0012: `{"t": tenant, "r": [[run id, workflow id, run status], …]}`, at most 40 runs a
 * notification. One send at a time, in commit order (a view must not see a run's `running`
 * after its `succeeded`); what is committed meanwhile goes with the next send. The statement
 * writes nothing, so its commit waits for no WAL flush and holds the notification lock only
 * for an instant. A failed send is logged and dropped: like a notification lost while the
 * API's LISTEN connection is down, it costs a stale view until the next change.
 */
import type pg from 'pg';
import type { RunId, TenantId, WorkflowId } from '../model/ids.ts';
import type { Logger } from '../observability/logger.ts';

const CHANNEL = 'sy_run_changes';
const PER_NOTIFICATION = 40;

export type RunChangeRow = [RunId, WorkflowId, string];

export type RunChangeSender = {
  /** Queues the changes of one committed statement (one tenant). */
  send(tenantId: TenantId, runs: RunChangeRow[]): void;
};

export function createRunChangeSender(pool: pg.Pool, logger: Logger): RunChangeSender {
  let queued: string[] = [];
  let sending = false;
  const pump = (): void => {
    if (sending || queued.length === 0) return;
    const payloads = queued;
    queued = [];
    sending = true;
    pool
      .query(
        `select pg_notify('${CHANNEL}', p) from unnest($1::text[]) with ordinality as u(p, n) order by n`,
        [payloads],
      )
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
      for (let i = 0; i < unique.length; i += PER_NOTIFICATION)
        queued.push(JSON.stringify({ t: tenantId, r: unique.slice(i, i + PER_NOTIFICATION) }));
      pump();
    },
  };
}
