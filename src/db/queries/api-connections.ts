/** Statements on `connections` used by the product API (the cipher column is security's). */
import type { Queryable } from '../pool.ts';
import type { AppId, ConnectionId, TenantId } from '../../model/ids.ts';

export type ConnectionRow = {
  id: ConnectionId;
  appId: AppId;
  name: string;
  config: Record<string, unknown>;
  hasSecret: boolean;
  createdAt: Date;
  updatedAt: Date;
};
type Raw = {
  id: ConnectionId;
  app_id: AppId;
  name: string;
  config: Record<string, unknown>;
  has_secret: boolean;
  created_at: Date;
  updated_at: Date;
};
const columns =
  'id, app_id, name, config, secret_cipher is not null as has_secret, created_at, updated_at';
const map = (r: Raw): ConnectionRow => ({
  id: r.id,
  appId: r.app_id,
  name: r.name,
  config: r.config,
  hasSecret: r.has_secret,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export async function insertConnection(
  db: Queryable,
  p: {
    tenantId: TenantId;
    id: ConnectionId;
    appId: AppId;
    name: string;
    config: Record<string, unknown>;
  },
): Promise<ConnectionRow> {
  const res = await db.query<Raw>(
    `insert into connections (tenant_id, id, app_id, name, config) values ($1, $2, $3, $4, $5) returning ${columns}`,
    [p.tenantId, p.id, p.appId, p.name, JSON.stringify(p.config)],
  );
  return map(res.rows[0]!);
}

export async function selectConnections(
  db: Queryable,
  p: { appId: AppId | null },
): Promise<ConnectionRow[]> {
  const res = await db.query<Raw>(
    `select ${columns} from connections where ($1::uuid is null or app_id = $1) order by name`,
    [p.appId],
  );
  return res.rows.map(map);
}

export async function selectConnection(
  db: Queryable,
  p: { id: ConnectionId },
): Promise<ConnectionRow | undefined> {
  const res = await db.query<Raw>(`select ${columns} from connections where id = $1`, [p.id]);
  return res.rows[0] && map(res.rows[0]);
}

export async function updateConnection(
  db: Queryable,
  p: { id: ConnectionId; name: string; config: Record<string, unknown> },
): Promise<ConnectionRow | undefined> {
  const res = await db.query<Raw>(
    `update connections set name = $2, config = $3 where id = $1 returning ${columns}`,
    [p.id, p.name, JSON.stringify(p.config)],
  );
  return res.rows[0] && map(res.rows[0]);
}

export async function deleteConnection(db: Queryable, p: { id: ConnectionId }): Promise<boolean> {
  const res = await db.query('delete from connections where id = $1', [p.id]);
  return (res.rowCount ?? 0) > 0;
}
