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

export async function selectAccessLog(
  db: Queryable,
  p: { beforeId: number | null; limit: number },
): Promise<AccessLogRow[]> {
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
       from access_log where ($1::bigint is null or id < $1) order by id desc limit $2`,
    [p.beforeId, p.limit],
  );
  return res.rows.map((r) => ({
    id: r.id,
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
