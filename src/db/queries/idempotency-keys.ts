import type { Queryable } from '../pool.ts';
import type { RunId, TenantId, WorkflowId } from '../../model/ids.ts';

/**
 * Takes the key for `runId`: inserts it, or takes over a key whose TTL has passed. Returns
 * false when a live key exists (the caller then reads it: duplicate or conflict). Concurrent
 * callers with one key queue on the unique index: exactly one of them gets true.
 */
export async function claimIdempotencyKey(
  db: Queryable,
  p: {
    tenantId: TenantId;
    workflowId: WorkflowId;
    key: string;
    inputHash: Buffer;
    runId: RunId;
    now: Date;
    expiresAt: Date;
  },
): Promise<boolean> {
  const res = await db.query(
    `insert into idempotency_keys (tenant_id, workflow_id, key, input_hash, run_id, created_at,
                                   expires_at)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (tenant_id, workflow_id, key) do update
        set input_hash = excluded.input_hash, run_id = excluded.run_id,
            created_at = excluded.created_at, expires_at = excluded.expires_at
      where idempotency_keys.expires_at <= excluded.created_at`,
    [p.tenantId, p.workflowId, p.key, p.inputHash, p.runId, p.now, p.expiresAt],
  );
  return res.rowCount === 1;
}

export async function selectIdempotencyKey(
  db: Queryable,
  p: { tenantId: TenantId; workflowId: WorkflowId; key: string },
): Promise<{ runId: RunId; inputHash: Buffer; expiresAt: Date } | undefined> {
  const res = await db.query<{ run_id: RunId; input_hash: Buffer; expires_at: Date }>(
    `select run_id, input_hash, expires_at from idempotency_keys
      where tenant_id = $1 and workflow_id = $2 and key = $3`,
    [p.tenantId, p.workflowId, p.key],
  );
  const r = res.rows[0];
  return r && { runId: r.run_id, inputHash: r.input_hash, expiresAt: r.expires_at };
}

/** For retention: keys past their TTL (they no longer dedupe anything). */
export async function deleteExpiredIdempotencyKeys(
  db: Queryable,
  p: { tenantId: TenantId; now: Date; limit: number },
): Promise<number> {
  const res = await db.query(
    `delete from idempotency_keys where tenant_id = $1 and id in (
       select id from idempotency_keys where tenant_id = $1 and expires_at <= $2 limit $3)`,
    [p.tenantId, p.now, p.limit],
  );
  return res.rowCount ?? 0;
}
