import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';

export type CircuitBreakerKey = { tenantId: TenantId; host: string; connectionKey: string };
export type CircuitBreakerStateName = 'closed' | 'open' | 'half_open';
export type CircuitBreakerRow = {
  state: CircuitBreakerStateName;
  failures: number;
  openUntil: Date | null;
  /** The database's clock when the row was read (workers compare against it, not their own). */
  now: Date;
};

type Raw = { state: CircuitBreakerStateName; failures: number; open_until: Date | null; now: Date };
const toRow = (r: Raw): CircuitBreakerRow => ({
  state: r.state,
  failures: r.failures,
  openUntil: r.open_until,
  now: r.now,
});

export async function selectCircuitBreaker(
  db: Queryable,
  k: CircuitBreakerKey,
): Promise<CircuitBreakerRow | null> {
  const res = await db.query<Raw>(
    `select state, failures, open_until, now() as now from circuit_breakers
      where tenant_id = $1 and host = $2 and connection_key = $3`,
    [k.tenantId, k.host, k.connectionKey],
  );
  return res.rows[0] ? toRow(res.rows[0]) : null;
}

/** Claims the probe of a breaker whose cool-down is over; true when this caller got it. */
export async function claimCircuitBreakerProbe(
  db: Queryable,
  k: CircuitBreakerKey & { leaseMs: number },
): Promise<boolean> {
  const res = await db.query(
    `update circuit_breakers
        set state = 'half_open', open_until = now() + $4::float8 * interval '1 millisecond',
            updated_at = now()
      where tenant_id = $1 and host = $2 and connection_key = $3
        and state <> 'closed' and open_until <= now()`,
    [k.tenantId, k.host, k.connectionKey, k.leaseMs],
  );
  return res.rowCount === 1;
}

/** Closes the breaker; writes nothing when it is already closed with no failures (hot path). */
export async function recordCircuitBreakerSuccess(
  db: Queryable,
  k: CircuitBreakerKey,
): Promise<CircuitBreakerRow | null> {
  const res = await db.query<Raw>(
    `update circuit_breakers
        set state = 'closed', failures = 0, open_until = null, updated_at = now()
      where tenant_id = $1 and host = $2 and connection_key = $3
        and (state <> 'closed' or failures > 0)
      returning state, failures, open_until, now() as now`,
    [k.tenantId, k.host, k.connectionKey],
  );
  return res.rows[0] ? toRow(res.rows[0]) : null;
}

/** Counts a failure; opens at the threshold, and re-opens a failed probe (half_open). */
export async function recordCircuitBreakerFailure(
  db: Queryable,
  k: CircuitBreakerKey & { threshold: number; cooldownMs: number },
): Promise<CircuitBreakerRow> {
  const res = await db.query<Raw>(
    `insert into circuit_breakers as b
       (tenant_id, host, connection_key, state, failures, open_until, opened_at)
     values ($1, $2, $3,
       case when $4::int <= 1 then 'open' else 'closed' end, 1,
       case when $4::int <= 1 then now() + $5::float8 * interval '1 millisecond' end,
       case when $4::int <= 1 then now() end)
     on conflict (tenant_id, host, connection_key) do update set
       failures = b.failures + 1,
       state = case when b.state = 'half_open' or b.failures + 1 >= $4::int then 'open' else b.state end,
       open_until = case
         when b.state = 'half_open' or (b.state = 'closed' and b.failures + 1 >= $4::int)
           then now() + $5::float8 * interval '1 millisecond'
         else b.open_until end,
       opened_at = case
         when b.state = 'half_open' or (b.state = 'closed' and b.failures + 1 >= $4::int) then now()
         else b.opened_at end,
       updated_at = now()
     returning state, failures, open_until, now() as now`,
    [k.tenantId, k.host, k.connectionKey, k.threshold, k.cooldownMs],
  );
  return toRow(res.rows[0]!);
}

/** A tenant's breakers that are not closed (for the UI). */
export async function listCircuitBreakers(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<(CircuitBreakerRow & { host: string; connectionKey: string; openedAt: Date | null })[]> {
  const res = await db.query<
    Raw & { host: string; connection_key: string; opened_at: Date | null }
  >(
    `select host, connection_key, state, failures, open_until, opened_at, now() as now
       from circuit_breakers where tenant_id = $1 and state <> 'closed' order by host`,
    [p.tenantId],
  );
  return res.rows.map((r) => ({
    ...toRow(r),
    host: r.host,
    connectionKey: r.connection_key,
    openedAt: r.opened_at,
  }));
}

/** A tenant's breakers by state (metrics; cross-tenant totals come from onStateChange). */
export async function countCircuitBreakersByState(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<Record<CircuitBreakerStateName, number>> {
  const res = await db.query<{ state: CircuitBreakerStateName; n: number }>(
    `select state, count(*)::int as n from circuit_breakers where tenant_id = $1 group by state`,
    [p.tenantId],
  );
  const out: Record<CircuitBreakerStateName, number> = { closed: 0, open: 0, half_open: 0 };
  for (const r of res.rows) out[r.state] = r.n;
  return out;
}
