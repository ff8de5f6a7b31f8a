import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';

export type CircuitBreakerKey = { tenantId: TenantId; host: string; connectionKey: string };
export type CircuitBreakerStateName = 'closed' | 'open' | 'half_open';
export type CircuitBreakerRow = {
  state: CircuitBreakerStateName;
  failures: number;
  openUntil: Date | null;
  /** Probes claimed in the current half-open window (0 while closed). */
  probes: number;
  /** The database's clock when the row was read (workers compare against it, not their own). */
  now: Date;
};
/** A write's result, with the state the row had just before it (to report changes once). */
export type CircuitBreakerWrite = CircuitBreakerRow & { previous: CircuitBreakerStateName };

type Raw = {
  state: CircuitBreakerStateName;
  failures: number;
  open_until: Date | null;
  probes: number;
  now: Date;
};
const toRow = (r: Raw): CircuitBreakerRow => ({
  state: r.state,
  failures: r.failures,
  openUntil: r.open_until,
  probes: r.probes,
  now: r.now,
});

export async function selectCircuitBreaker(
  db: Queryable,
  k: CircuitBreakerKey,
): Promise<CircuitBreakerRow | null> {
  const res = await db.query<Raw>(
    `select state, failures, open_until, probes, now() as now from circuit_breakers
      where tenant_id = $1 and host = $2 and connection_key = $3`,
    [k.tenantId, k.host, k.connectionKey],
  );
  return res.rows[0] ? toRow(res.rows[0]) : null;
}

/**
 * Claims a probe: when the cool-down (or the current window's lease) is over, a new half-open
 * window of leaseMs starts with this probe; within a window, one of its maxProbes slots.
 * True when this caller got one.
 */
export async function claimCircuitBreakerProbe(
  db: Queryable,
  k: CircuitBreakerKey & { leaseMs: number; maxProbes: number },
): Promise<boolean> {
  const res = await db.query(
    `update circuit_breakers
        set state = 'half_open',
            probes = case when state = 'open' or open_until <= now() then 1 else probes + 1 end,
            failures = case when state = 'open' or open_until <= now() then 0 else failures end,
            open_until = case when state = 'open' or open_until <= now()
                              then now() + $4::float8 * interval '1 millisecond'
                              else open_until end,
            updated_at = now()
      where tenant_id = $1 and host = $2 and connection_key = $3
        and ((state = 'open' and open_until <= now())
          or (state = 'half_open' and (open_until <= now() or probes < $5::int)))`,
    [k.tenantId, k.host, k.connectionKey, k.leaseMs, k.maxProbes],
  );
  return res.rowCount === 1;
}

/**
 * Closes the breaker; writes nothing when it is already closed with no failures (hot path).
 * The row is locked by the sub-select, so of two concurrent successes only the first sees the
 * breaker not closed.
 */
export async function recordCircuitBreakerSuccess(
  db: Queryable,
  k: CircuitBreakerKey & { retry: boolean },
): Promise<CircuitBreakerWrite | null> {
  const res = await db.query<Raw & { previous: CircuitBreakerStateName }>(
    `update circuit_breakers b
        set state = 'closed', failures = 0, open_until = null, probes = 0, updated_at = now(),
            last_retry_success_at = case when $4::bool then now() else b.last_retry_success_at end
       from (select state from circuit_breakers
              where tenant_id = $1 and host = $2 and connection_key = $3
                and (state <> 'closed' or failures > 0 or $4::bool)
              for update) o
      where b.tenant_id = $1 and b.host = $2 and b.connection_key = $3
      returning b.state, b.failures, b.open_until, b.probes, now() as now, o.state as previous`,
    [k.tenantId, k.host, k.connectionKey, k.retry],
  );
  const r = res.rows[0];
  return r ? { ...toRow(r), previous: r.previous } : null;
}

/**
 * The failure that opens the breaker: the threshold reached — unless it is a first try's and a
 * retry succeeded within the last $8 ms — or the window's last probe failed.
 */
const opens = `((b.state = 'closed' and b.failures + 1 >= $4::int
              and ($7::bool or b.last_retry_success_at is null
                   or b.last_retry_success_at <= now() - $8::float8 * interval '1 millisecond'))
            or (b.state = 'half_open' and b.failures + 1 >= $6::int))`;

/**
 * Counts a failure; opens at the threshold (closed) or when every probe of the window failed
 * (half_open). `previous`: a breaker this statement opened has opened_at = now() (this
 * transaction's start), and came from half_open when it has probes; otherwise nothing changed.
 */
export async function recordCircuitBreakerFailure(
  db: Queryable,
  k: CircuitBreakerKey & {
    threshold: number;
    cooldownMs: number;
    maxProbes: number;
    /** The failed request had been sent before. */
    retry: boolean;
    retrySuccessTrustMs: number;
  },
): Promise<CircuitBreakerWrite> {
  const res = await db.query<Raw & { previous: CircuitBreakerStateName }>(
    `insert into circuit_breakers as b
       (tenant_id, host, connection_key, state, failures, open_until, opened_at)
     values ($1, $2, $3,
       case when $4::int <= 1 then 'open' else 'closed' end, 1,
       case when $4::int <= 1 then now() + $5::float8 * interval '1 millisecond' end,
       case when $4::int <= 1 then now() end)
     on conflict (tenant_id, host, connection_key) do update set
       failures = b.failures + 1,
       state = case when ${opens} then 'open' else b.state end,
       open_until = case when ${opens} then now() + $5::float8 * interval '1 millisecond'
                         else b.open_until end,
       opened_at = case when ${opens} then now() else b.opened_at end,
       updated_at = now()
     returning state, failures, open_until, probes, now() as now,
       case when state = 'open' and opened_at = now()
            then case when probes > 0 then 'half_open' else 'closed' end
            else state end as previous`,
    [
      k.tenantId,
      k.host,
      k.connectionKey,
      k.threshold,
      k.cooldownMs,
      k.maxProbes,
      k.retry,
      k.retrySuccessTrustMs,
    ],
  );
  const r = res.rows[0]!;
  return { ...toRow(r), previous: r.previous };
}

/** A tenant's breakers that are not closed (for the UI). */
export async function listCircuitBreakers(
  db: Queryable,
  p: { tenantId: TenantId },
): Promise<(CircuitBreakerRow & { host: string; connectionKey: string; openedAt: Date | null })[]> {
  const res = await db.query<
    Raw & { host: string; connection_key: string; opened_at: Date | null }
  >(
    `select host, connection_key, state, failures, open_until, probes, opened_at, now() as now
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

/**
 * Closes a breaker by hand (an operator knows the host is back): the next call goes through.
 * True when there was a breaker that was not closed.
 */
export async function resetCircuitBreaker(db: Queryable, k: CircuitBreakerKey): Promise<boolean> {
  const res = await db.query(
    `update circuit_breakers
        set state = 'closed', failures = 0, open_until = null, opened_at = null, probes = 0,
            updated_at = now()
      where tenant_id = $1 and host = $2 and connection_key = $3 and state <> 'closed'`,
    [k.tenantId, k.host, k.connectionKey],
  );
  return (res.rowCount ?? 0) > 0;
}
