import type { Queryable } from '../pool.ts';
import { containsPattern, type NamePage } from '../sql.ts';
import type { TenantId, WorkflowId, WorkflowVersionId } from '../../model/ids.ts';

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

export type WorkflowRow = {
  id: WorkflowId;
  name: string;
  description: string;
  currentVersionId: WorkflowVersionId | null;
  archivedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
};
type Raw = {
  id: WorkflowId;
  name: string;
  description: string;
  current_version_id: WorkflowVersionId | null;
  archived_at: Date | null;
  created_at: Date;
  updated_at: Date;
};
const columns = 'id, name, description, current_version_id, archived_at, created_at, updated_at';
const map = (r: Raw): WorkflowRow => ({
  id: r.id,
  name: r.name,
  description: r.description,
  currentVersionId: r.current_version_id,
  archivedAt: r.archived_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export async function insertWorkflow(
  db: Queryable,
  p: { tenantId: string; name: string; description: string },
): Promise<WorkflowRow> {
  const res = await db.query<Raw>(
    `insert into workflows (tenant_id, name, description) values ($1, $2, $3) returning ${columns}`,
    [p.tenantId, p.name, p.description],
  );
  return map(res.rows[0]!);
}

/** One page by (lower(name), id), optionally only the names containing `search`. */
export async function selectWorkflows(
  db: Queryable,
  p: NamePage & { includeArchived: boolean },
): Promise<Array<WorkflowRow & { sortKey: string }>> {
  const res = await db.query<Raw & { sort_key: string }>(
    `select ${columns}, name_key as sort_key from workflows
      where tenant_id = $1 and ($2 or archived_at is null)
        and ($3::text is null or name_key like $3)
        and ($4::text is null or (name_key, id) > ($4, $5::uuid))
      order by name_key, id limit $6`,
    [
      p.tenantId,
      p.includeArchived,
      p.search === null ? null : containsPattern(p.search),
      p.after?.name ?? null,
      p.after?.id ?? null,
      p.limit,
    ],
  );
  return res.rows.map((r) => ({ ...map(r), sortKey: r.sort_key }));
}

/** The workflows of these ids (a page of runs names its workflows with it). */
export async function selectWorkflowsByIds(
  db: Queryable,
  p: { ids: string[] },
): Promise<Array<WorkflowRow & { sortKey: string }>> {
  const res = await db.query<Raw & { sort_key: string }>(
    `select ${columns}, name_key as sort_key from workflows where id = any($1::uuid[])
      order by name_key, id`,
    [p.ids],
  );
  return res.rows.map((r) => ({ ...map(r), sortKey: r.sort_key }));
}

export async function selectWorkflow(
  db: Queryable,
  p: { id: WorkflowId },
): Promise<WorkflowRow | undefined> {
  const res = await db.query<Raw>(`select ${columns} from workflows where id = $1`, [p.id]);
  return res.rows[0] && map(res.rows[0]);
}

export async function updateWorkflow(
  db: Queryable,
  p: { id: WorkflowId; name: string; description: string | null; archived: boolean | null },
): Promise<WorkflowRow | undefined> {
  // A null description or archived flag keeps the stored value.
  const res = await db.query<Raw>(
    `update workflows set name = $2, description = coalesce($3, description),
       archived_at = case when $4::boolean is null then archived_at
                          when $4 then coalesce(archived_at, now()) else null end
     where id = $1 returning ${columns}`,
    [p.id, p.name, p.description, p.archived],
  );
  return res.rows[0] && map(res.rows[0]);
}

export async function setCurrentVersion(
  db: Queryable,
  p: { id: WorkflowId; versionId: WorkflowVersionId },
): Promise<WorkflowRow | undefined> {
  const res = await db.query<Raw>(
    `update workflows set current_version_id = $2 where id = $1 returning ${columns}`,
    [p.id, p.versionId],
  );
  return res.rows[0] && map(res.rows[0]);
}
