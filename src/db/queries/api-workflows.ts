/** Statements on `workflows` and `workflow_versions` used by the product API. */
import type { Queryable } from '../pool.ts';
import type { ConnectionId, WorkflowId, WorkflowVersionId } from '../../model/ids.ts';

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

export async function selectWorkflows(
  db: Queryable,
  p: { includeArchived: boolean },
): Promise<WorkflowRow[]> {
  const res = await db.query<Raw>(
    `select ${columns} from workflows where $1 or archived_at is null order by name`,
    [p.includeArchived],
  );
  return res.rows.map(map);
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
  p: { id: WorkflowId; name: string; description: string; archived: boolean },
): Promise<WorkflowRow | undefined> {
  const res = await db.query<Raw>(
    `update workflows set name = $2, description = $3,
       archived_at = case when $4 then coalesce(archived_at, now()) else null end
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

export type WorkflowVersionRow = {
  id: WorkflowVersionId;
  workflowId: WorkflowId;
  version: number;
  definition: unknown;
  createdBy: string | null;
  createdAt: Date;
};
type RawVersion = {
  id: WorkflowVersionId;
  workflow_id: WorkflowId;
  version: number;
  definition: unknown;
  created_by: string | null;
  created_at: Date;
};
const versionColumns = 'id, workflow_id, version, definition, created_by, created_at';
const mapVersion = (r: RawVersion): WorkflowVersionRow => ({
  id: r.id,
  workflowId: r.workflow_id,
  version: r.version,
  definition: r.definition,
  createdBy: r.created_by,
  createdAt: r.created_at,
});

/** Next version number under a row lock on the workflow, so concurrent saves never collide. */
export async function insertNextVersion(
  db: Queryable,
  p: { tenantId: string; workflowId: WorkflowId; definition: unknown; createdBy: string | null },
): Promise<WorkflowVersionRow> {
  const res = await db.query<RawVersion>(
    `with w as (select id from workflows where id = $2 for update)
     insert into workflow_versions (tenant_id, workflow_id, version, definition, created_by)
     select $1, w.id, coalesce((select max(version) from workflow_versions v where v.workflow_id = w.id), 0) + 1, $3, $4 from w
     returning ${versionColumns}`,
    [p.tenantId, p.workflowId, JSON.stringify(p.definition), p.createdBy],
  );
  return mapVersion(res.rows[0]!);
}

export async function selectVersions(
  db: Queryable,
  p: { workflowId: WorkflowId },
): Promise<WorkflowVersionRow[]> {
  const res = await db.query<RawVersion>(
    `select ${versionColumns} from workflow_versions where workflow_id = $1 order by version desc`,
    [p.workflowId],
  );
  return res.rows.map(mapVersion);
}

export async function selectVersion(
  db: Queryable,
  p: { id: WorkflowVersionId },
): Promise<WorkflowVersionRow | undefined> {
  const res = await db.query<RawVersion>(
    `select ${versionColumns} from workflow_versions where id = $1`,
    [p.id],
  );
  return res.rows[0] && mapVersion(res.rows[0]);
}

/** The app of each connection (to check a step's connection matches its action's app). */
export async function selectConnectionApps(
  db: Queryable,
  p: { ids: ConnectionId[] },
): Promise<Map<string, string>> {
  const res = await db.query<{ id: string; app_id: string }>(
    'select id, app_id from connections where id = any($1::uuid[])',
    [p.ids],
  );
  return new Map(res.rows.map((r) => [r.id, r.app_id]));
}
