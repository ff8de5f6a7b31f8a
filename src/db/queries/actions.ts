/** Statements on `actions` (the engine reads actions with their app in workflow-runs.ts). */
import type { Queryable } from '../pool.ts';
import { containsPattern, type NamePage } from '../sql.ts';
import type { ActionId, AppId } from '../../model/ids.ts';

export type ActionRow = {
  id: ActionId;
  appId: AppId;
  key: string;
  name: string;
  kind: string;
  inputSchema: unknown;
  outputSchema: unknown;
  implementation: unknown;
  retryStrategy: string;
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
  rateLimitRequests: number | null;
  rateLimitPerSeconds: number | null;
  /** Set when a re-import of the app's OpenAPI document no longer has this operation. */
  deprecatedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
};
type Raw = {
  id: ActionId;
  app_id: AppId;
  key: string;
  name: string;
  kind: string;
  input_schema: unknown;
  output_schema: unknown;
  implementation: unknown;
  retry_strategy: string;
  max_attempts: number;
  initial_delay_ms: number;
  max_delay_ms: number;
  timeout_ms: number;
  rate_limit_requests: number | null;
  rate_limit_per_seconds: number | null;
  deprecated_at: Date | null;
  created_at: Date;
  updated_at: Date;
};
const columns = `id, app_id, key, name, kind, input_schema, output_schema, implementation, retry_strategy, max_attempts,
  initial_delay_ms, max_delay_ms, timeout_ms, rate_limit_requests, rate_limit_per_seconds, deprecated_at, created_at, updated_at`;
const map = (r: Raw): ActionRow => ({
  id: r.id,
  appId: r.app_id,
  key: r.key,
  name: r.name,
  kind: r.kind,
  inputSchema: r.input_schema,
  outputSchema: r.output_schema,
  implementation: r.implementation,
  retryStrategy: r.retry_strategy,
  maxAttempts: r.max_attempts,
  initialDelayMs: r.initial_delay_ms,
  maxDelayMs: r.max_delay_ms,
  timeoutMs: r.timeout_ms,
  rateLimitRequests: r.rate_limit_requests,
  rateLimitPerSeconds: r.rate_limit_per_seconds,
  deprecatedAt: r.deprecated_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type ActionInput = Omit<ActionRow, 'id' | 'createdAt' | 'updatedAt' | 'deprecatedAt'>;

const values = (p: ActionInput) => [
  p.appId,
  p.key,
  p.name,
  p.kind,
  JSON.stringify(p.inputSchema),
  JSON.stringify(p.outputSchema),
  JSON.stringify(p.implementation),
  p.retryStrategy,
  p.maxAttempts,
  p.initialDelayMs,
  p.maxDelayMs,
  p.timeoutMs,
  p.rateLimitRequests,
  p.rateLimitPerSeconds,
];

export async function insertAction(
  db: Queryable,
  p: ActionInput & { tenantId: string },
): Promise<ActionRow> {
  const res = await db.query<Raw>(
    `insert into actions (app_id, key, name, kind, input_schema, output_schema, implementation, retry_strategy, max_attempts,
       initial_delay_ms, max_delay_ms, timeout_ms, rate_limit_requests, rate_limit_per_seconds, tenant_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) returning ${columns}`,
    [...values(p), p.tenantId],
  );
  return map(res.rows[0]!);
}

export async function updateAction(
  db: Queryable,
  p: ActionInput & { id: ActionId },
): Promise<ActionRow | undefined> {
  const res = await db.query<Raw>(
    `update actions set app_id = $1, key = $2, name = $3, kind = $4, input_schema = $5, output_schema = $6, implementation = $7,
       retry_strategy = $8, max_attempts = $9, initial_delay_ms = $10, max_delay_ms = $11, timeout_ms = $12,
       rate_limit_requests = $13, rate_limit_per_seconds = $14
     where id = $15 returning ${columns}`,
    [...values(p), p.id],
  );
  return res.rows[0] && map(res.rows[0]);
}

/**
 * One page by (lower(name), id), of one app or all; optionally only those whose name, app name
 * or "app · action" title (as the editor's picker shows it) contains `search`.
 */
export async function selectActions(
  db: Queryable,
  p: NamePage & { appId: AppId | null },
): Promise<Array<ActionRow & { sortKey: string }>> {
  const res = await db.query<Raw & { sort_key: string }>(
    `select ${columns}, name_key as sort_key from actions
      where tenant_id = $1 and ($2::uuid is null or app_id = $2)
        and ($3::text is null or name_key like $3 or exists (
              select 1 from apps ap
               where ap.tenant_id = actions.tenant_id and ap.id = actions.app_id
                 and (ap.name_key like $3 or ap.name_key || ' · ' || actions.name_key like $3)))
        and ($4::text is null or (name_key, id) > ($4, $5::uuid))
      order by name_key, id limit $6`,
    [
      p.tenantId,
      p.appId,
      p.search === null ? null : containsPattern(p.search),
      p.after?.name ?? null,
      p.after?.id ?? null,
      p.limit,
    ],
  );
  return res.rows.map((r) => ({ ...map(r), sortKey: r.sort_key }));
}

/** All actions of one app, by name (the nested `App.actions`: an app's own, bounded list). */
export async function selectAppActions(db: Queryable, p: { appId: AppId }): Promise<ActionRow[]> {
  const res = await db.query<Raw>(
    `select ${columns} from actions where app_id = $1 order by name_key, id`,
    [p.appId],
  );
  return res.rows.map(map);
}

/** The actions of these ids, by name (the editor's steps name theirs with it). */
export async function selectActionsByIdsSorted(
  db: Queryable,
  p: { ids: string[] },
): Promise<Array<ActionRow & { sortKey: string }>> {
  const res = await db.query<Raw & { sort_key: string }>(
    `select ${columns}, name_key as sort_key from actions where id = any($1::uuid[])
      order by name_key, id`,
    [p.ids],
  );
  return res.rows.map((r) => ({ ...map(r), sortKey: r.sort_key }));
}

export async function selectActionsByIds(
  db: Queryable,
  p: { ids: ActionId[] },
): Promise<ActionRow[]> {
  const res = await db.query<Raw>(`select ${columns} from actions where id = any($1::uuid[])`, [
    p.ids,
  ]);
  return res.rows.map(map);
}

export async function deleteAction(db: Queryable, p: { id: ActionId }): Promise<boolean> {
  const res = await db.query('delete from actions where id = $1', [p.id]);
  return (res.rowCount ?? 0) > 0;
}

/**
 * An import's actions as one JSON array text of `{key, name, inputSchema, outputSchema,
 * implementation}`: built in the import's worker thread and handed to PostgreSQL as is, so the
 * API's event loop never parses or serializes the megabytes of schemas a big document holds.
 */
export type ImportedActionsJson = string;

const importedRecord = `jsonb_to_recordset($2::jsonb)
  as r(key text, name text, "inputSchema" jsonb, "outputSchema" jsonb, implementation jsonb)`;

/**
 * Which of the imported actions are new to the app, and which differ from the stored ones
 * (jsonb compares by value, whatever the key order), or were deprecated.
 */
export async function classifyImportedActions(
  db: Queryable,
  p: { appId: AppId | null; actions: ImportedActionsJson },
): Promise<{ created: string[]; changed: string[] }> {
  const res = await db.query<{ key: string; state: 'created' | 'changed' | 'same' }>(
    `select r.key,
            case when a.id is null then 'created'
                 when a.kind <> 'http' or a.name <> r.name or a.deprecated_at is not null
                   or a.input_schema <> r."inputSchema" or a.output_schema <> r."outputSchema"
                   or a.implementation <> r.implementation then 'changed'
                 else 'same' end as state
       from ${importedRecord}
       left join actions a on a.app_id = $1 and a.key = r.key`,
    [p.appId, p.actions],
  );
  return {
    created: res.rows.filter((r) => r.state === 'created').map((r) => r.key),
    changed: res.rows.filter((r) => r.state === 'changed').map((r) => r.key),
  };
}

/** The app's actions without their schemas (what an import compares and reports). */
export async function selectActionSummaries(
  db: Queryable,
  p: { appId: AppId },
): Promise<
  Array<{
    id: ActionId;
    key: string;
    name: string;
    method: string;
    path: string;
    deprecatedAt: Date | null;
  }>
> {
  const res = await db.query<{
    id: ActionId;
    key: string;
    name: string;
    method: string | null;
    path: string | null;
    deprecated_at: Date | null;
  }>(
    `select id, key, name, implementation ->> 'method' as method,
            coalesce(implementation ->> 'path', implementation ->> 'url') as path, deprecated_at
       from actions where app_id = $1 order by key`,
    [p.appId],
  );
  return res.rows.map((r) => ({
    id: r.id,
    key: r.key,
    name: r.name,
    method: r.method ?? '',
    path: r.path ?? '',
    deprecatedAt: r.deprecated_at,
  }));
}

/** Inserts the imported actions whose key is in `keys`, in one statement. */
export async function insertImportedActions(
  db: Queryable,
  p: { tenantId: string; appId: AppId; actions: ImportedActionsJson; keys: string[] },
): Promise<number> {
  const res = await db.query(
    `insert into actions (tenant_id, app_id, key, name, kind, input_schema, output_schema, implementation)
     select $1, $3, r.key, r.name, 'http', r."inputSchema", r."outputSchema", r.implementation
       from ${importedRecord}
      where r.key = any($4::text[])`,
    [p.tenantId, p.actions, p.appId, p.keys],
  );
  return res.rowCount ?? 0;
}

/**
 * Updates the imported actions whose key is in `keys`, keeping the builder's reliability
 * settings (retries, timeout, rate limit) and clearing a deprecation (the operation is back).
 */
export async function updateImportedActions(
  db: Queryable,
  p: { appId: AppId; actions: ImportedActionsJson; keys: string[] },
): Promise<number> {
  const res = await db.query(
    `update actions a set name = r.name, kind = 'http', input_schema = r."inputSchema",
       output_schema = r."outputSchema", implementation = r.implementation, deprecated_at = null
       from ${importedRecord}
      where a.app_id = $1 and a.key = r.key and r.key = any($3::text[])`,
    [p.appId, p.actions, p.keys],
  );
  return res.rowCount ?? 0;
}

export async function deprecateActions(
  db: Queryable,
  p: { appId: AppId; keys: string[]; at: Date },
): Promise<number> {
  const res = await db.query(
    `update actions set deprecated_at = $3
      where app_id = $1 and key = any($2::text[]) and deprecated_at is null`,
    [p.appId, p.keys, p.at],
  );
  return res.rowCount ?? 0;
}
