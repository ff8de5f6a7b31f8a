import type { Queryable } from '../pool.ts';
import type { RunId, TenantId, WorkflowId } from '../../model/ids.ts';

export type DeadLetterRow = {
  id: string;
  runId: RunId;
  workflowId: WorkflowId;
  failedStepId: string | null;
  error: { code: string; message: string; retryable: boolean };
  context: {
    input: unknown;
    steps: Record<string, unknown>;
    failedStepIndex: number | null;
    /** Version 2: `{{ error }}` when the step failed (after a goto), for a replay. */
    error?: unknown;
  };
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
  /** The step that failed (its id in the definition). */
  stepId?: string;
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
        and ($9::text is null or failed_step_id = $9)
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
      f.stepId ?? null,
    ],
  );
  return res.rows.map(toRow);
}

/** created_at to the microsecond: a page's cursor must not fall between two rows' times. */
export type DeadLetterPageRow = DeadLetterRow & { createdKey: string };

/**
 * A page of the filter, newest first, keyset-paged on (created_at, id) after `after` (the last
 * row's createdKey and id).
 */
export async function selectDeadLetterPage(
  db: Queryable,
  p: {
    tenantId: TenantId;
    filter: DeadLetterFilter;
    after: { createdKey: string; id: string } | null;
  },
): Promise<DeadLetterPageRow[]> {
  const f = p.filter;
  const res = await db.query<Raw & { created_key: string }>(
    `select ${columns},
            to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_key
       from dead_letters
      where tenant_id = $1
        and ($2::uuid[] is null or id = any($2))
        and ($3::uuid is null or workflow_id = $3)
        and ($4::text is null or error->>'code' = $4)
        and ($5::timestamptz is null or created_at >= $5)
        and ($6::timestamptz is null or created_at < $6)
        and (not $7 or replayed_at is null)
        and ($9::text is null or failed_step_id = $9)
        and ($10::timestamptz is null or (created_at, id) < ($10, $11::uuid))
      order by created_at desc, id desc
      limit $8`,
    [
      p.tenantId,
      f.ids ?? null,
      f.workflowId ?? null,
      f.errorCode ?? null,
      f.since ?? null,
      f.until ?? null,
      f.pending ?? false,
      f.limit,
      f.stepId ?? null,
      p.after?.createdKey ?? null,
      p.after?.id ?? null,
    ],
  );
  return res.rows.map((r) => ({ ...toRow(r), createdKey: r.created_key }));
}

export type ReplayPreviewVersion = {
  workflowId: WorkflowId;
  workflowVersionId: string;
  version: number;
  total: number;
  pending: number;
};

/**
 * What a replay of the whole filter would start, grouped by the workflow version of the failed
 * runs (a replay runs on its original run's version): how many match, how many not replayed yet.
 */
export async function selectDeadLetterReplayPreview(
  db: Queryable,
  p: { tenantId: TenantId; filter: Omit<DeadLetterFilter, 'limit'> },
): Promise<ReplayPreviewVersion[]> {
  const f = p.filter;
  const res = await db.query<{
    workflow_id: WorkflowId;
    workflow_version_id: string;
    version: number;
    total: number;
    pending: number;
  }>(
    `select d.workflow_id, r.workflow_version_id, v.version,
            count(*)::int as total, count(*) filter (where d.replayed_at is null)::int as pending
       from dead_letters d
       join workflow_runs r on r.tenant_id = d.tenant_id and r.id = d.run_id
       join workflow_versions v on v.tenant_id = r.tenant_id and v.id = r.workflow_version_id
      where d.tenant_id = $1
        and ($2::uuid[] is null or d.id = any($2))
        and ($3::uuid is null or d.workflow_id = $3)
        and ($4::text is null or d.error->>'code' = $4)
        and ($5::timestamptz is null or d.created_at >= $5)
        and ($6::timestamptz is null or d.created_at < $6)
        and (not $7 or d.replayed_at is null)
        and ($8::text is null or d.failed_step_id = $8)
      group by d.workflow_id, r.workflow_version_id, v.version
      order by count(*) desc, v.version desc`,
    [
      p.tenantId,
      f.ids ?? null,
      f.workflowId ?? null,
      f.errorCode ?? null,
      f.since ?? null,
      f.until ?? null,
      f.pending ?? false,
      f.stepId ?? null,
    ],
  );
  return res.rows.map((r) => ({
    workflowId: r.workflow_id,
    workflowVersionId: r.workflow_version_id,
    version: r.version,
    total: r.total,
    pending: r.pending,
  }));
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
