/** kek_versions (migration 0003): the KEK versions Switchyard has used; no key material. */
import type { Queryable } from '../pool.ts';

export type KekVersionRow = {
  kekId: string;
  version: number;
  provider: string;
  status: 'active' | 'retired';
  createdAt: Date;
  retiredAt: Date | null;
};

export async function insertKekVersion(
  db: Queryable,
  p: { kekId: string; version: number; provider: 'local' | 'vault' },
): Promise<boolean> {
  const res = await db.query(
    `insert into kek_versions (kek_id, version, provider) values ($1, $2, $3)
     on conflict do nothing`,
    [p.kekId, p.version, p.provider],
  );
  return res.rowCount === 1;
}

export async function selectKekVersions(
  db: Queryable,
  p: { kekId: string },
): Promise<KekVersionRow[]> {
  const res = await db.query<{
    kek_id: string;
    version: number;
    provider: string;
    status: 'active' | 'retired';
    created_at: Date;
    retired_at: Date | null;
  }>(
    `select kek_id, version, provider, status, created_at, retired_at
       from kek_versions where kek_id = $1 order by version`,
    [p.kekId],
  );
  return res.rows.map((r) => ({
    kekId: r.kek_id,
    version: r.version,
    provider: r.provider,
    status: r.status,
    createdAt: r.created_at,
    retiredAt: r.retired_at,
  }));
}

export async function markKekVersionsRetired(
  db: Queryable,
  p: { kekId: string; upToVersion: number },
): Promise<number[]> {
  const res = await db.query<{ version: number }>(
    `update kek_versions set status = 'retired', retired_at = now()
      where kek_id = $1 and version <= $2 and status = 'active' returning version`,
    [p.kekId, p.upToVersion],
  );
  return res.rows.map((r) => r.version);
}
