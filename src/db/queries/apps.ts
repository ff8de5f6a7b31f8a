import type { Queryable } from '../pool.ts';
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

export async function selectApps(db: Queryable): Promise<AppRow[]> {
  const res = await db.query<Raw>(`select ${columns} from apps order by is_builtin desc, name`);
  return res.rows.map(map);
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
