import type { Queryable } from '../pool.ts';
import type { TenantId, WorkflowId } from '../../model/ids.ts';

/** Why a workflow cannot start: does it exist, is it published, is it archived? */
export async function selectWorkflowState(
  db: Queryable,
  p: { tenantId: TenantId; workflowId: WorkflowId },
): Promise<{ published: boolean; archived: boolean } | undefined> {
  const res = await db.query<{ published: boolean; archived: boolean }>(
    `select current_version_id is not null as published, archived_at is not null as archived
       from workflows where tenant_id = $1 and id = $2`,
    [p.tenantId, p.workflowId],
  );
  return res.rows[0];
}
