import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';

/**
 * GCRA in one atomic statement: advances the key's theoretical arrival time (tat) by one
 * emission interval when max(tat, now) - now <= burst, else leaves it. Concurrent workers
 * serialise on the row lock of the upsert, whose WHERE is re-checked on the latest row.
 * When refused, waitMs is read from the statement's snapshot: it can be a little short under
 * contention, which only means the step asks again a little early.
 */
export async function takeRateLimitSlot(
  db: Queryable,
  p: { tenantId: TenantId; key: string; intervalMs: number; burstMs: number },
): Promise<{ allowed: boolean; waitMs: number }> {
  const res = await db.query<{ allowed: boolean; wait_ms: number | null }>(
    `with up as (
       insert into rate_limits as r (tenant_id, key, tat)
       values ($1, $2, now() + $3::float8 * interval '1 millisecond')
       on conflict (tenant_id, key) do update
         set tat = greatest(r.tat, now()) + $3::float8 * interval '1 millisecond'
         where greatest(r.tat, now()) - now() <= $4::float8 * interval '1 millisecond'
       returning tat
     )
     select exists (select 1 from up) as allowed,
            (select extract(epoch from (l.tat - now())) * 1000 - $4::float8
               from rate_limits l where l.tenant_id = $1 and l.key = $2)::float8 as wait_ms`,
    [p.tenantId, p.key, p.intervalMs, p.burstMs],
  );
  const row = res.rows[0]!;
  return { allowed: row.allowed, waitMs: Math.max(0, row.wait_ms ?? 0) };
}
