import type { Queryable } from '../pool.ts';
import type { WorkflowId, WorkflowVersionId } from '../../model/ids.ts';

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
     select $1, w.id, coalesce((select max(version) from workflow_versions v where v.workflow_id = w.id and not v.is_test), 0) + 1, $3, $4 from w
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
    `select ${versionColumns} from workflow_versions where workflow_id = $1 and not is_test order by version desc`,
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

/**
 * A test version (migration 0026): the draft a test run pins, numbered as the version it would
 * become when saved. Never listed or published; retention deletes it once no run uses it.
 */
export async function insertTestVersion(
  db: Queryable,
  p: { tenantId: string; workflowId: WorkflowId; definition: unknown; createdBy: string | null },
): Promise<WorkflowVersionRow | undefined> {
  const res = await db.query<RawVersion>(
    `insert into workflow_versions (tenant_id, workflow_id, version, definition, created_by, is_test)
     select $1, w.id, coalesce((select max(version) from workflow_versions v
                                 where v.workflow_id = w.id and not v.is_test), 0) + 1, $3, $4, true
       from workflows w where w.id = $2
     returning ${versionColumns}`,
    [p.tenantId, p.workflowId, JSON.stringify(p.definition), p.createdBy],
  );
  return res.rows[0] && mapVersion(res.rows[0]);
}

/** Whether a version is a test version (publishing one is refused). */
export async function selectVersionIsTest(
  db: Queryable,
  p: { id: WorkflowVersionId },
): Promise<boolean> {
  const res = await db.query<{ is_test: boolean }>(
    `select is_test from workflow_versions where id = $1`,
    [p.id],
  );
  return res.rows[0]?.is_test ?? false;
}

/** Test versions created before `before` that no run pins any more (retention). */
export async function deleteUnusedTestVersions(
  db: Queryable,
  p: { tenantId: string; before: Date; limit: number },
): Promise<number> {
  const res = await db.query(
    `delete from workflow_versions v
      where v.tenant_id = $1 and v.id in (
        select t.id from workflow_versions t
         where t.tenant_id = $1 and t.is_test and t.created_at < $2
           and not exists (select 1 from workflow_runs r
                            where r.tenant_id = t.tenant_id and r.workflow_version_id = t.id)
         limit $3)`,
    [p.tenantId, p.before, p.limit],
  );
  return res.rowCount ?? 0;
}

/** The steps of a test version that carry a pinned output (a run's `pinnedStepIds`). */
export async function selectPinnedStepIds(
  db: Queryable,
  p: { id: WorkflowVersionId },
): Promise<string[]> {
  // Steps at any depth (definition version 2 nests them in branches, loop bodies and
  // onFailure); lax `.**` may reach one step twice, hence the grouping. Top-level steps come
  // in definition order; nested ones in the order jsonb walks them.
  const res = await db.query<{ id: string }>(
    `select s.step->>'id' as id
       from workflow_versions v,
            jsonb_path_query(v.definition, 'lax $.**.steps[*] ? (exists(@.pinnedOutput))')
              with ordinality as s(step, ord)
      where v.id = $1 and v.is_test
      group by s.step->>'id' order by min(s.ord)`,
    [p.id],
  );
  return res.rows.map((r) => r.id);
}

/** Live workflows whose current version has a step (at any depth) calling one of these actions. */
export async function selectWorkflowsUsingActions(
  db: Queryable,
  p: { actionIds: string[] },
): Promise<Array<{ id: WorkflowId; name: string; actionIds: string[] }>> {
  if (p.actionIds.length === 0) return [];
  const res = await db.query<{ id: WorkflowId; name: string; action_ids: string[] }>(
    `select w.id, w.name, array_agg(distinct s.step ->> 'actionId' order by s.step ->> 'actionId') as action_ids
       from workflows w
       join workflow_versions v on v.tenant_id = w.tenant_id and v.id = w.current_version_id
       -- Steps at any depth: definition version 2 nests them in branches and loop bodies.
       cross join lateral jsonb_path_query(v.definition, 'lax $.**.steps[*]') as s(step)
      where w.archived_at is null and s.step ->> 'actionId' = any($1::text[])
      group by w.id, w.name
      order by w.name`,
    [p.actionIds],
  );
  return res.rows.map((r) => ({ id: r.id, name: r.name, actionIds: r.action_ids }));
}

/**
 * The workflows that the current versions of `ids` call (callWorkflow steps at any depth): a
 * row per caller and callee. Row security keeps it to the tenant.
 */
export async function selectCalledWorkflows(
  db: Queryable,
  p: { ids: string[] },
): Promise<Array<{ callerId: WorkflowId; calledId: string }>> {
  if (p.ids.length === 0) return [];
  const res = await db.query<{ caller_id: WorkflowId; called_id: string }>(
    `select distinct w.id as caller_id, c.id #>> '{}' as called_id
       from workflows w
       join workflow_versions v on v.tenant_id = w.tenant_id and v.id = w.current_version_id
       cross join lateral jsonb_path_query(
         v.definition, 'lax $.** ? (@.type == "callWorkflow").workflowId') as c(id)
      where w.id::text = any($1::text[])`,
    [p.ids],
  );
  return res.rows.map((r) => ({ callerId: r.caller_id, calledId: r.called_id }));
}
