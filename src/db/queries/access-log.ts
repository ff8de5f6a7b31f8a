import type { Queryable } from '../pool.ts';

export type AccessLogEntry = {
  tenantId: string | null;
  actorKind: 'user' | 'token' | 'system' | 'anonymous';
  actorId: string | null;
  tokenId: string | null;
  operationKind: string;
  operationName: string | null;
  outcome: string;
  durationMs: number | null;
  ip: string | null;
  requestId: string | null;
  occurredAt: Date;
};

/**
 * Writes a batch of one tenant's entries in one statement (the access-log policy is per tenant,
 * so observability/access-log.ts groups entries by tenant before writing).
 */
export async function insertAccessLogEntries(
  db: Queryable,
  entries: AccessLogEntry[],
): Promise<void> {
  if (entries.length === 0) return;
  const col = <K extends keyof AccessLogEntry>(k: K) => entries.map((e) => e[k]);
  await db.query(
    `insert into access_log (tenant_id, actor_kind, actor_id, token_id, operation_kind, operation_name, outcome, duration_ms, ip, request_id, occurred_at)
     select * from unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::int[], $9::inet[], $10::text[], $11::timestamptz[])`,
    [
      col('tenantId'),
      col('actorKind'),
      col('actorId'),
      col('tokenId'),
      col('operationKind'),
      col('operationName'),
      col('outcome'),
      col('durationMs'),
      col('ip'),
      col('requestId'),
      col('occurredAt'),
    ],
  );
}

export type AccessLogRow = AccessLogEntry & { id: number };

export type AccessLogFilter = {
  actorKind: string | null;
  actorId: string | null;
  tokenId: string | null;
  operationName: string | null;
  outcome: string | null;
  from: Date | null;
  to: Date | null;
};

/**
 * Newest first by (occurred_at, id), the table's key, which is also the keyset cursor; the
 * time bounds are half-open, [from, to), and prune the day partitions outside them.
 */
export async function selectAccessLog(
  db: Queryable,
  p: {
    tenantId: string;
    after: { occurredAt: Date; id: number } | null;
    limit: number;
    filter: AccessLogFilter;
  },
): Promise<AccessLogRow[]> {
  const f = p.filter;
  const res = await db.query<{
    id: number;
    tenant_id: string | null;
    actor_kind: AccessLogEntry['actorKind'];
    actor_id: string | null;
    token_id: string | null;
    operation_kind: string;
    operation_name: string | null;
    outcome: string;
    duration_ms: number | null;
    ip: string | null;
    request_id: string | null;
    occurred_at: Date;
  }>(
    `select id, tenant_id, actor_kind, actor_id, token_id, operation_kind, operation_name, outcome, duration_ms, host(ip) as ip, request_id, occurred_at
       from access_log
      where tenant_id = $1
        and ($2::timestamptz is null or (occurred_at, id) < ($2, $3::bigint))
        and ($5::text is null or actor_kind = $5)
        and ($6::text is null or actor_id = $6)
        and ($7::uuid is null or token_id = $7)
        and ($8::text is null or operation_name = $8)
        and ($9::text is null or outcome = $9)
        and ($10::timestamptz is null or occurred_at >= $10)
        and ($11::timestamptz is null or occurred_at < $11)
      order by occurred_at desc, id desc limit $4`,
    [
      p.tenantId,
      p.after?.occurredAt ?? null,
      p.after?.id ?? null,
      p.limit,
      f.actorKind,
      f.actorId,
      f.tokenId,
      f.operationName,
      f.outcome,
      f.from,
      f.to,
    ],
  );
  return res.rows.map((r) => ({
    id: Number(r.id),
    tenantId: r.tenant_id,
    actorKind: r.actor_kind,
    actorId: r.actor_id,
    tokenId: r.token_id,
    operationKind: r.operation_kind,
    operationName: r.operation_name,
    outcome: r.outcome,
    durationMs: r.duration_ms,
    ip: r.ip,
    requestId: r.request_id,
    occurredAt: r.occurred_at,
  }));
}
