import type { AuthKind } from '../../model/step.ts';
import type { Queryable } from '../pool.ts';
import { containsPattern, type NamePage } from '../sql.ts';
import { dataKeyFromRow, dataKeySelectList, joinDataKeyOf, type DataKeyRow } from './data-keys.ts';
import type { AppId, ConnectionId, TenantId } from '../../model/ids.ts';

/** Stores an already encrypted secret (security/secrets/connections.ts); false if no such row. */
export async function updateConnectionSecretCipher(
  db: Queryable,
  p: { tenantId: TenantId; id: ConnectionId; secretCipher: Buffer | null },
): Promise<boolean> {
  const res = await db.query(
    'update connections set secret_cipher = $3 where tenant_id = $1 and id = $2',
    [p.tenantId, p.id, p.secretCipher],
  );
  return res.rowCount === 1;
}

/**
 * The stored secret and, read in the same statement (one snapshot), the data key it names:
 * a concurrent `keys reencrypt` cannot destroy that key between the two reads.
 */
export async function selectConnectionSecretCipher(
  db: Queryable,
  p: { tenantId: TenantId; id: ConnectionId },
): Promise<{ secretCipher: Buffer | null; dataKey: DataKeyRow | undefined } | undefined> {
  const res = await db.query<{ secret_cipher: Buffer | null } & Record<string, unknown>>(
    `select c.secret_cipher, ${dataKeySelectList('k', 'k_')}
       from connections c ${joinDataKeyOf('k', 'c', 'secret_cipher')}
      where c.tenant_id = $1 and c.id = $2`,
    [p.tenantId, p.id],
  );
  const row = res.rows[0];
  return row && { secretCipher: row.secret_cipher, dataKey: dataKeyFromRow(row, 'k_') };
}

export type ConnectionAuthKind = AuthKind;

/** What a worker needs to run a step with this connection (the secret stays encrypted here). */
export async function selectConnectionForStep(
  db: Queryable,
  p: { tenantId: TenantId; id: ConnectionId },
): Promise<
  | {
      appId: AppId;
      authKind: ConnectionAuthKind;
      authConfig: Record<string, unknown>;
      config: Record<string, unknown>;
      hasSecret: boolean;
      status: ConnectionStatus;
      statusReason: string | null;
    }
  | undefined
> {
  const res = await db.query<{
    app_id: AppId;
    auth_kind: ConnectionAuthKind;
    auth_config: Record<string, unknown>;
    config: Record<string, unknown>;
    has_secret: boolean;
    status: ConnectionStatus;
    status_reason: string | null;
  }>(
    `select c.app_id, a.auth_kind, a.auth_config, c.config, c.secret_cipher is not null as has_secret,
            c.status, c.status_reason
       from connections c join apps a on a.tenant_id = c.tenant_id and a.id = c.app_id
      where c.tenant_id = $1 and c.id = $2`,
    [p.tenantId, p.id],
  );
  const r = res.rows[0];
  return (
    r && {
      appId: r.app_id,
      authKind: r.auth_kind,
      authConfig: r.auth_config,
      config: r.config,
      hasSecret: r.has_secret,
      status: r.status,
      statusReason: r.status_reason,
    }
  );
}

/** `active`, or `needs_reauth` once an OAuth refresh was refused (until connected again). */
export type ConnectionStatus = 'active' | 'needs_reauth';

/**
 * Locks the connection row for the rest of the transaction (one OAuth refresh at a time per
 * connection, across processes); undefined if there is no such connection.
 */
export async function lockConnection(
  db: Queryable,
  p: { tenantId: TenantId; id: ConnectionId },
): Promise<{ status: ConnectionStatus; statusReason: string | null } | undefined> {
  const res = await db.query<{ status: ConnectionStatus; status_reason: string | null }>(
    'select status, status_reason from connections where tenant_id = $1 and id = $2 for update',
    [p.tenantId, p.id],
  );
  const r = res.rows[0];
  return r && { status: r.status, statusReason: r.status_reason };
}

export async function updateConnectionStatus(
  db: Queryable,
  p: { tenantId: TenantId; id: ConnectionId; status: ConnectionStatus; reason: string | null },
): Promise<boolean> {
  const res = await db.query(
    'update connections set status = $3, status_reason = $4 where tenant_id = $1 and id = $2',
    [p.tenantId, p.id, p.status, p.reason],
  );
  return res.rowCount === 1;
}

export type ConnectionRow = {
  id: ConnectionId;
  appId: AppId;
  name: string;
  config: Record<string, unknown>;
  hasSecret: boolean;
  status: ConnectionStatus;
  statusReason: string | null;
  createdAt: Date;
  updatedAt: Date;
};
type Raw = {
  id: ConnectionId;
  app_id: AppId;
  name: string;
  config: Record<string, unknown>;
  has_secret: boolean;
  status: ConnectionStatus;
  status_reason: string | null;
  created_at: Date;
  updated_at: Date;
};
const columns =
  'id, app_id, name, config, secret_cipher is not null as has_secret, status, status_reason, created_at, updated_at';
const map = (r: Raw): ConnectionRow => ({
  id: r.id,
  appId: r.app_id,
  name: r.name,
  config: r.config,
  hasSecret: r.has_secret,
  status: r.status,
  statusReason: r.status_reason,
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

/** One page by (lower(name), id), of one app or all; optionally only names containing `search`. */
export async function selectConnections(
  db: Queryable,
  p: NamePage & { appId: AppId | null },
): Promise<Array<ConnectionRow & { sortKey: string }>> {
  const res = await db.query<Raw & { sort_key: string }>(
    `select ${columns}, name_key as sort_key from connections
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
