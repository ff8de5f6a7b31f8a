/** The webhook secret columns of triggers; ciphertexts only (security/secrets/webhooks.ts). */
import type { Queryable } from '../pool.ts';
import { dataKeyFromRow, dataKeySelectList, joinDataKeyOf, type DataKeyRow } from './data-keys.ts';
import type { TenantId, TriggerId } from '../../model/ids.ts';

export type TriggerSecretCiphers = {
  current: Buffer | null;
  previous: Buffer | null;
  previousExpiresAt: Date | null;
};

type RawCiphers = {
  webhook_secret_cipher: Buffer | null;
  previous_webhook_secret_cipher: Buffer | null;
  previous_secret_expires_at: Date | null;
};
const toCiphers = (r: RawCiphers): TriggerSecretCiphers => ({
  current: r.webhook_secret_cipher,
  previous: r.previous_webhook_secret_cipher,
  previousExpiresAt: r.previous_secret_expires_at,
});

/**
 * The ciphers and, read in the same statement (one snapshot), the data keys they name: a
 * concurrent `keys reencrypt` cannot destroy such a key between the two reads.
 */
export async function selectTriggerSecretCiphers(
  db: Queryable,
  p: { tenantId: TenantId; id: TriggerId },
): Promise<
  | (TriggerSecretCiphers & {
      currentKey: DataKeyRow | undefined;
      previousKey: DataKeyRow | undefined;
    })
  | undefined
> {
  const res = await db.query<RawCiphers & Record<string, unknown>>(
    `select t.webhook_secret_cipher, t.previous_webhook_secret_cipher, t.previous_secret_expires_at,
            ${dataKeySelectList('kc', 'kc_')}, ${dataKeySelectList('kp', 'kp_')}
       from triggers t ${joinDataKeyOf('kc', 't', 'webhook_secret_cipher')}
            ${joinDataKeyOf('kp', 't', 'previous_webhook_secret_cipher')}
      where t.tenant_id = $1 and t.id = $2`,
    [p.tenantId, p.id],
  );
  const row = res.rows[0];
  return (
    row && {
      ...toCiphers(row),
      currentKey: dataKeyFromRow(row, 'kc_'),
      previousKey: dataKeyFromRow(row, 'kp_'),
    }
  );
}

/** The same, locking the row: for rotating the secret. */
export async function selectTriggerSecretCiphersForUpdate(
  db: Queryable,
  p: { tenantId: TenantId; id: TriggerId },
): Promise<TriggerSecretCiphers | undefined> {
  const res = await db.query<RawCiphers>(
    `select webhook_secret_cipher, previous_webhook_secret_cipher, previous_secret_expires_at
       from triggers where tenant_id = $1 and id = $2 for update`,
    [p.tenantId, p.id],
  );
  return res.rows[0] && toCiphers(res.rows[0]);
}

export async function updateTriggerSecretCiphers(
  db: Queryable,
  p: { tenantId: TenantId; id: TriggerId } & TriggerSecretCiphers,
): Promise<boolean> {
  const res = await db.query(
    `update triggers set webhook_secret_cipher = $3, previous_webhook_secret_cipher = $4,
            previous_secret_expires_at = $5
      where tenant_id = $1 and id = $2`,
    [p.tenantId, p.id, p.current, p.previous, p.previousExpiresAt],
  );
  return res.rowCount === 1;
}
