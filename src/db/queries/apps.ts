import type { Queryable } from '../pool.ts';
import { containsPattern, type NamePage } from '../sql.ts';
import type { AppId } from '../../model/ids.ts';

export type AppRow = {
  id: AppId;
  key: string;
  name: string;
  baseUrl: string | null;
  authKind: string;
  authConfig: Record<string, unknown>;
  connectionSchema: unknown;
  isBuiltin: boolean;
  createdAt: Date;
  updatedAt: Date;
};
type Raw = {
  id: AppId;
  key: string;
  name: string;
  base_url: string | null;
  auth_kind: string;
  auth_config: Record<string, unknown>;
  connection_schema: unknown;
  is_builtin: boolean;
  created_at: Date;
  updated_at: Date;
};
const columns =
  'id, key, name, base_url, auth_kind, auth_config, connection_schema, is_builtin, created_at, updated_at';
const map = (r: Raw): AppRow => ({
  id: r.id,
  key: r.key,
  name: r.name,
  baseUrl: r.base_url,
  authKind: r.auth_kind,
  authConfig: r.auth_config,
  connectionSchema: r.connection_schema,
  isBuiltin: r.is_builtin,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type AppInput = {
  key: string;
  name: string;
  baseUrl: string | null;
  authKind: string;
  authConfig: Record<string, unknown>;
  connectionSchema: unknown;
};

export async function insertApp(
  db: Queryable,
  p: AppInput & { tenantId: string; isBuiltin: boolean },
): Promise<AppRow> {
  const res = await db.query<Raw>(
    `insert into apps (tenant_id, key, name, base_url, auth_kind, auth_config, connection_schema, is_builtin)
     values ($1, $2, $3, $4, $5, $6, $7, $8) returning ${columns}`,
    [
      p.tenantId,
      p.key,
      p.name,
      p.baseUrl,
      p.authKind,
      JSON.stringify(p.authConfig),
      JSON.stringify(p.connectionSchema),
      p.isBuiltin,
    ],
  );
  return map(res.rows[0]!);
}

/**
 * One page: built-in apps first, then by (lower(name), id); `after.builtin` is the last row's
 * is_builtin. Optionally only the names containing `search`.
 */
export async function selectApps(
  db: Queryable,
  p: Omit<NamePage, 'after'> & { after: { builtin: boolean; name: string; id: string } | null },
): Promise<Array<AppRow & { sortKey: string }>> {
  const res = await db.query<Raw & { sort_key: string }>(
    `select ${columns}, name_key as sort_key from apps
      where tenant_id = $1
        and ($2::text is null or name_key like $2)
        and ($3::boolean is null or (not is_builtin, name_key, id) > (not $3, $4, $5::uuid))
      order by not is_builtin, name_key, id limit $6`,
    [
      p.tenantId,
      p.search === null ? null : containsPattern(p.search),
      p.after?.builtin ?? null,
      p.after?.name ?? null,
      p.after?.id ?? null,
      p.limit,
    ],
  );
  return res.rows.map((r) => ({ ...map(r), sortKey: r.sort_key }));
}

export async function selectApp(db: Queryable, p: { id: AppId }): Promise<AppRow | undefined> {
  const res = await db.query<Raw>(`select ${columns} from apps where id = $1`, [p.id]);
  return res.rows[0] && map(res.rows[0]);
}

export async function updateApp(
  db: Queryable,
  p: AppInput & { id: AppId },
): Promise<AppRow | undefined> {
  const res = await db.query<Raw>(
    `update apps set key = $2, name = $3, base_url = $4, auth_kind = $5, auth_config = $6, connection_schema = $7
      where id = $1 and not is_builtin returning ${columns}`,
    [
      p.id,
      p.key,
      p.name,
      p.baseUrl,
      p.authKind,
      JSON.stringify(p.authConfig),
      JSON.stringify(p.connectionSchema),
    ],
  );
  return res.rows[0] && map(res.rows[0]);
}

export async function deleteApp(db: Queryable, p: { id: AppId }): Promise<boolean> {
  const res = await db.query('delete from apps where id = $1 and not is_builtin', [p.id]);
  return (res.rowCount ?? 0) > 0;
}

export async function selectAppByKey(
  db: Queryable,
  p: { key: string },
): Promise<AppRow | undefined> {
  const res = await db.query<Raw>(`select ${columns} from apps where key = $1`, [p.key]);
  return res.rows[0] && map(res.rows[0]);
}

/**
 * Serialises the built-in catalogue's sync of one tenant (two processes starting at once would
 * both add a missing app): a transaction-scoped advisory lock, released at commit.
 */
export async function lockBuiltinAppsOf(db: Queryable, p: { tenantId: string }): Promise<void> {
  await db.query(`select pg_advisory_xact_lock(hashtext('switchyard.builtin-apps:' || $1))`, [
    p.tenantId,
  ]);
}

/** The keys of the current tenant's apps, built-in or its own (RLS). */
export async function selectAppKeys(db: Queryable): Promise<string[]> {
  const res = await db.query<{ key: string }>('select key from apps');
  return res.rows.map((r) => r.key);
}
