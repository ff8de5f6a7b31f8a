import type { Queryable } from '../pool.ts';
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

export async function selectConnectionSecretCipher(
  db: Queryable,
  p: { tenantId: TenantId; id: ConnectionId },
): Promise<{ secretCipher: Buffer | null } | undefined> {
  const res = await db.query<{ secret_cipher: Buffer | null }>(
    'select secret_cipher from connections where tenant_id = $1 and id = $2',
    [p.tenantId, p.id],
  );
  const row = res.rows[0];
  return row && { secretCipher: row.secret_cipher };
}

/** Same values as the apps.auth_kind check constraint (and runner/types.ts AuthKind). */
export type ConnectionAuthKind =
  'none' | 'api_key' | 'bearer' | 'basic' | 'oauth2_client_credentials';

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
    }
  | undefined
> {
  const res = await db.query<{
    app_id: AppId;
    auth_kind: ConnectionAuthKind;
    auth_config: Record<string, unknown>;
    config: Record<string, unknown>;
    has_secret: boolean;
  }>(
    `select c.app_id, a.auth_kind, a.auth_config, c.config, c.secret_cipher is not null as has_secret
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
    }
  );
}
