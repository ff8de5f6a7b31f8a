/**
 * tenant_data_keys (migration 0003): each tenant's data keys, stored only wrapped by the KEK,
 * and the statements that find which data key a stored ciphertext uses. A ciphertext names its
 * data key in bytes 2..17 (security/crypto/aead.ts), so `substring(cipher from 2 for 16)`
 * equals `uuid_send(key id)`.
 */
import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';

export type DataKeyRow = {
  tenantId: TenantId;
  id: string;
  version: number;
  wrappedKey: Buffer;
  kekId: string;
  kekVersion: number;
  status: 'active' | 'retired';
};

type Raw = {
  tenant_id: TenantId;
  id: string;
  version: number;
  wrapped_key: Buffer;
  kek_id: string;
  kek_version: number;
  status: 'active' | 'retired';
};
const columns = 'tenant_id, id, version, wrapped_key, kek_id, kek_version, status';
const toRow = (r: Raw): DataKeyRow => ({
  tenantId: r.tenant_id,
  id: r.id,
  version: r.version,
  wrappedKey: r.wrapped_key,
  kekId: r.kek_id,
  kekVersion: r.kek_version,
  status: r.status,
});

/**
 * Every column that holds a ciphertext of this layer. A new secret column is added here, so
 * that `keys reencrypt` moves it to new data keys and no data key still in use is destroyed.
 */
export const cipherColumns = [
  { table: 'connections', column: 'secret_cipher' },
  { table: 'triggers', column: 'webhook_secret_cipher' },
  { table: 'triggers', column: 'previous_webhook_secret_cipher' },
  { table: 'oauth_states', column: 'verifier_cipher' },
  { table: 'failure_notifications', column: 'signing_secret_cipher' },
] as const;
export type CipherColumn = (typeof cipherColumns)[number];

/**
 * The tenant's active data key, locked FOR SHARE until the caller's transaction ends: retiring
 * it (reencrypt) waits for every writer still encrypting under it, so no ciphertext under a
 * retired key can appear after the re-encryption pass has started.
 */
export async function selectActiveDataKeyForShare(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<DataKeyRow | undefined> {
  const res = await db.query<Raw>(
    `select ${columns} from tenant_data_keys
      where tenant_id = $1 and status = 'active' for share`,
    [p.tenantId],
  );
  return res.rows[0] && toRow(res.rows[0]);
}

export async function selectDataKey(
  db: Queryable,
  p: { tenantId: TenantId; id: string },
): Promise<DataKeyRow | undefined> {
  const res = await db.query<Raw>(
    `select ${columns} from tenant_data_keys where tenant_id = $1 and id = $2`,
    [p.tenantId, p.id],
  );
  return res.rows[0] && toRow(res.rows[0]);
}

/**
 * For a statement that reads a ciphertext together with the data key it names: joins that key
 * as `alias` (null when no such key is visible) next to the row `owner` whose `cipherColumn`
 * holds the ciphertext. One statement sees one snapshot, so a ciphertext read there always
 * comes with its key: `keys reencrypt` destroys a retired key only after it has committed the
 * re-encrypted ciphertexts, and a snapshot that still sees the old ciphertext also still sees
 * the key it names. (Reading the key in a later statement of a READ COMMITTED transaction
 * could miss a key destroyed in between.)
 */
export function joinDataKeyOf(alias: string, owner: string, cipherColumn: string): string {
  return `left join tenant_data_keys ${alias} on ${alias}.tenant_id = ${owner}.tenant_id
      and uuid_send(${alias}.id) = substring(${owner}.${cipherColumn} from 2 for 16)`;
}

/** The select list of a key joined by joinDataKeyOf(), its columns named `<prefix><column>`. */
export function dataKeySelectList(alias: string, prefix: string): string {
  return columns
    .split(', ')
    .map((c) => `${alias}.${c} as ${prefix}${c}`)
    .join(', ');
}

/** The key read by dataKeySelectList(), or undefined when none was joined. */
export function dataKeyFromRow(
  raw: Record<string, unknown>,
  prefix: string,
): DataKeyRow | undefined {
  if (raw[`${prefix}id`] === null || raw[`${prefix}id`] === undefined) return undefined;
  const r = Object.fromEntries(
    columns.split(', ').map((c) => [c, raw[`${prefix}${c}`]]),
  ) as unknown as Raw;
  return toRow(r);
}

/** Inserts the next version as the active key; undefined when another writer made one first. */
export async function insertActiveDataKey(
  db: Queryable,
  p: { tenantId: TenantId; id: string; wrappedKey: Buffer; kekId: string; kekVersion: number },
): Promise<DataKeyRow | undefined> {
  const res = await db.query<Raw>(
    `insert into tenant_data_keys (tenant_id, id, version, wrapped_key, kek_id, kek_version)
     select $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5
       from tenant_data_keys where tenant_id = $1
     on conflict do nothing
     returning ${columns}`,
    [p.tenantId, p.id, p.wrappedKey, p.kekId, p.kekVersion],
  );
  return res.rows[0] && toRow(res.rows[0]);
}

export async function retireActiveDataKey(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<{ id: string; version: number } | undefined> {
  const res = await db.query<{ id: string; version: number }>(
    `update tenant_data_keys set status = 'retired'
      where tenant_id = $1 and status = 'active' returning id, version`,
    [p.tenantId],
  );
  return res.rows[0];
}

/** The tenant's keys wrapped under an older version of the KEK, locked for re-wrapping. */
export async function selectDataKeysToRewrap(
  db: Queryable,
  p: { tenantId: TenantId; kekId: string; kekVersion: number; limit: number },
): Promise<DataKeyRow[]> {
  const res = await db.query<Raw>(
    `select ${columns} from tenant_data_keys
      where tenant_id = $1 and kek_id = $2 and kek_version < $3
      order by version limit $4 for update`,
    [p.tenantId, p.kekId, p.kekVersion, p.limit],
  );
  return res.rows.map(toRow);
}

export async function updateDataKeyWrap(
  db: Queryable,
  p: { tenantId: TenantId; id: string; wrappedKey: Buffer; kekId: string; kekVersion: number },
): Promise<void> {
  await db.query(
    `update tenant_data_keys
        set wrapped_key = $3, kek_id = $4, kek_version = $5, rewrapped_at = now()
      where tenant_id = $1 and id = $2`,
    [p.tenantId, p.id, p.wrappedKey, p.kekId, p.kekVersion],
  );
}

/** withSystem(): tenants that still hold a key wrapped under an older version of the KEK. */
export async function selectTenantsWithStaleDataKeys(
  db: Queryable,
  p: { kekId: string; kekVersion: number; limit: number },
): Promise<TenantId[]> {
  const res = await db.query<{ tenant_id: TenantId }>(
    `select distinct tenant_id from tenant_data_keys
      where kek_id = $1 and kek_version < $2
      order by tenant_id limit $3`,
    [p.kekId, p.kekVersion, p.limit],
  );
  return res.rows.map((r) => r.tenant_id);
}

/** withSystem(): tenants that hold any data key, in pages. */
export async function selectTenantsWithDataKeys(
  db: Queryable,
  p: { afterTenantId: string; limit: number },
): Promise<TenantId[]> {
  const res = await db.query<{ tenant_id: TenantId }>(
    `select distinct tenant_id from tenant_data_keys
      where tenant_id > $1::uuid order by tenant_id limit $2`,
    [p.afterTenantId, p.limit],
  );
  return res.rows.map((r) => r.tenant_id);
}

export type KekUsage = { kekId: string; kekVersion: number; status: string; keys: number };

/** withSystem(): how many data keys each KEK version wraps. */
export async function countDataKeysByKekVersion(db: Queryable): Promise<KekUsage[]> {
  const res = await db.query<{ kek_id: string; kek_version: number; status: string; keys: number }>(
    `select kek_id, kek_version, status, count(*)::int as keys from tenant_data_keys
      group by kek_id, kek_version, status order by kek_id, kek_version, status`,
  );
  return res.rows.map((r) => ({
    kekId: r.kek_id,
    kekVersion: r.kek_version,
    status: r.status,
    keys: r.keys,
  }));
}

const notReferenced = cipherColumns
  .map(
    (c) =>
      `not exists (select 1 from ${c.table} x where x.tenant_id = k.tenant_id
         and substring(x.${c.column} from 2 for 16) = uuid_send(k.id))`,
  )
  .join(' and ');

/** Destroys the tenant's retired data keys that no stored ciphertext names any more. */
export async function deleteUnreferencedRetiredDataKeys(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<{ id: string; version: number }[]> {
  const res = await db.query<{ id: string; version: number }>(
    `delete from tenant_data_keys k
      where k.tenant_id = $1 and k.status = 'retired' and ${notReferenced}
      returning k.id, k.version`,
    [p.tenantId],
  );
  return res.rows;
}

export type StoredCipher = { id: string; cipher: Buffer };

/** Ciphertexts of one column that are not under the given data key, locked for re-encryption. */
export async function selectCiphersNotUnderKey(
  db: Queryable,
  p: {
    column: CipherColumn;
    tenantId: TenantId;
    dataKeyId: string;
    /** Keyset cursor: rows after this id (rows that could not be re-encrypted stay behind). */
    afterId: string;
    limit: number;
  },
): Promise<StoredCipher[]> {
  const { table, column } = p.column;
  const res = await db.query<{ id: string; cipher: Buffer }>(
    `select id, ${column} as cipher from ${table}
      where tenant_id = $1 and ${column} is not null
        and substring(${column} from 2 for 16) <> uuid_send($2::uuid)
        and id > $3::uuid
      order by id limit $4 for update skip locked`,
    [p.tenantId, p.dataKeyId, p.afterId, p.limit],
  );
  return res.rows;
}

/** Replaces one ciphertext if it is still the one read (a concurrent update wins). */
export async function updateCipherIfUnchanged(
  db: Queryable,
  p: { column: CipherColumn; tenantId: TenantId; id: string; from: Buffer; to: Buffer },
): Promise<boolean> {
  const { table, column } = p.column;
  const res = await db.query(
    `update ${table} set ${column} = $4 where tenant_id = $1 and id = $2 and ${column} = $3`,
    [p.tenantId, p.id, p.from, p.to],
  );
  return res.rowCount === 1;
}
