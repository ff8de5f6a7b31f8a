import type { Queryable } from '../pool.ts';
import type { RunId, TenantId, WorkflowId } from '../../model/ids.ts';

export type DeadLetterRow = {
  id: string;
  runId: RunId;
  workflowId: WorkflowId;
  failedStepId: string | null;
  error: { code: string; message: string; retryable: boolean };
  context: { input: unknown; steps: Record<string, unknown>; failedStepIndex: number | null };
  retryCount: number;
  replayedAt: Date | null;
  replayRunId: RunId | null;
  createdAt: Date;
};

type Raw = {
  id: string;
  run_id: RunId;
  workflow_id: WorkflowId;
  failed_step_id: string | null;
  error: DeadLetterRow['error'];
  context: DeadLetterRow['context'];
  retry_count: number;
  replayed_at: Date | null;
  replay_run_id: RunId | null;
  created_at: Date;
};

const columns = `id, run_id, workflow_id, failed_step_id, error, context, retry_count,
  replayed_at, replay_run_id, created_at`;

const toRow = (r: Raw): DeadLetterRow => ({
  id: r.id,
  runId: r.run_id,
  workflowId: r.workflow_id,
  failedStepId: r.failed_step_id,
  error: r.error,
  context: r.context,
  retryCount: r.retry_count,
  replayedAt: r.replayed_at,
  replayRunId: r.replay_run_id,
  createdAt: r.created_at,
});

export type DeadLetterFilter = {
  ids?: string[];
  workflowId?: WorkflowId;
  errorCode?: string;
  since?: Date;
  until?: Date;
  /** Only those not replayed yet. */
  pending?: boolean;
  limit: number;
};

/**
 * Dead letters of a tenant, newest first; `lock` takes them for a replay, waiting for a
 * replay of the same rows in progress (which the caller then sees as done).
 */
export async function selectDeadLetters(
  db: Queryable,
  p: { tenantId: TenantId; filter: DeadLetterFilter; lock: boolean },
): Promise<DeadLetterRow[]> {
  const f = p.filter;
  const res = await db.query<Raw>(
    `select ${columns} from dead_letters
      where tenant_id = $1
        and ($2::uuid[] is null or id = any($2))
        and ($3::uuid is null or workflow_id = $3)
        and ($4::text is null or error->>'code' = $4)
        and ($5::timestamptz is null or created_at >= $5)
        and ($6::timestamptz is null or created_at < $6)
        and (not $7 or replayed_at is null)
      order by created_at desc, id
      limit $8
      ${p.lock ? 'for update' : ''}`,
    [
      p.tenantId,
      f.ids ?? null,
      f.workflowId ?? null,
      f.errorCode ?? null,
      f.since ?? null,
      f.until ?? null,
      f.pending ?? false,
      f.limit,
    ],
  );
  return res.rows.map(toRow);
}

export async function markDeadLetterReplayed(
  db: Queryable,
  p: { tenantId: TenantId; id: string; replayRunId: RunId; now: Date },
): Promise<void> {
  await db.query(
    `update dead_letters set replayed_at = $3, replay_run_id = $4 where tenant_id = $1 and id = $2`,
    [p.tenantId, p.id, p.now, p.replayRunId],
  );
}
