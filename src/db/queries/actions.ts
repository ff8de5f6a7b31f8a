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
  created_at: Date;
  updated_at: Date;
};
const columns = `id, app_id, key, name, kind, input_schema, output_schema, implementation, retry_strategy, max_attempts,
  initial_delay_ms, max_delay_ms, timeout_ms, rate_limit_requests, rate_limit_per_seconds, created_at, updated_at`;
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
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type ActionInput = Omit<ActionRow, 'id' | 'createdAt' | 'updatedAt'>;

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

/** One page by (lower(name), id), of one app or all; optionally only names containing `search`. */
export async function selectActions(
  db: Queryable,
  p: NamePage & { appId: AppId | null },
): Promise<Array<ActionRow & { sortKey: string }>> {
  const res = await db.query<Raw & { sort_key: string }>(
    `select ${columns}, name_key as sort_key from actions
      where tenant_id = $1 and ($2::uuid is null or app_id = $2)
        and ($3::text is null or name_key like $3)
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
