import type { Queryable } from '../pool.ts';
import type { TenantId } from '../../model/ids.ts';

export type AuditActorKind = 'user' | 'token' | 'system';

export type NewAuditEvent = {
  tenantId: TenantId;
  actorKind: AuditActorKind;
  actorId: string | null;
  action: string;
  targetKind: string | null;
  targetId: string | null;
  outcome: 'success' | 'failure';
  metadata: Record<string, unknown>;
  ip: string | null;
  requestId: string | null;
};

/** seq, prev_hash and hash are filled in by the chaining trigger (migration 0001). */
export async function insertAuditEvent(db: Queryable, e: NewAuditEvent): Promise<{ seq: number }> {
  const res = await db.query<{ seq: number }>(
    `insert into audit_events
       (tenant_id, actor_kind, actor_id, action, target_kind, target_id, outcome, metadata, ip, request_id,
        prev_hash, hash)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '\\x', '\\x')
     returning seq`,
    [
      e.tenantId,
      e.actorKind,
      e.actorId,
      e.action,
      e.targetKind,
      e.targetId,
      e.outcome,
      JSON.stringify(e.metadata),
      e.ip,
      e.requestId,
    ],
  );
  return res.rows[0]!;
}

export type AuditChainRow = { seq: number; hash: Buffer; prevHash: Buffer; hashOk: boolean };

/**
 * A page of a tenant's chain, each event with the verdict of recomputing its hash from the
 * row as it is now (audit_event_hash, the function the chaining trigger used).
 */
export async function selectAuditChainPage(
  db: Queryable,
  p: { tenantId: TenantId; afterSeq: number; limit: number },
): Promise<AuditChainRow[]> {
  const res = await db.query<{ seq: number; hash: Buffer; prev_hash: Buffer; hash_ok: boolean }>(
    `select seq, hash, prev_hash, audit_event_hash(e) = hash as hash_ok
       from audit_events e
      where tenant_id = $1 and seq > $2
      order by seq
      limit $3`,
    [p.tenantId, p.afterSeq, p.limit],
  );
  return res.rows.map((r) => ({
    seq: r.seq,
    hash: r.hash,
    prevHash: r.prev_hash,
    hashOk: r.hash_ok,
  }));
}

export type AuditEventRow = {
  seq: number;
  id: string;
  actorKind: string;
  actorId: string | null;
  action: string;
  targetKind: string | null;
  targetId: string | null;
  outcome: string;
  metadata: unknown;
  ip: string | null;
  requestId: string | null;
  occurredAt: Date;
};

export type AuditEventFilter = {
  actorKind: string | null;
  actorId: string | null;
  /** Exact, or a prefix when it ends with "." (`api_token.` matches every token event). */
  action: string | null;
  targetKind: string | null;
  targetId: string | null;
  from: Date | null;
  to: Date | null;
};

/**
 * Newest first (by seq, the chain's order); `beforeSeq` is the keyset cursor. The time bounds
 * are half-open, [from, to).
 */
export async function selectAuditEvents(
  db: Queryable,
  p: { tenantId: TenantId; beforeSeq: number | null; limit: number; filter: AuditEventFilter },
): Promise<AuditEventRow[]> {
  const f = p.filter;
  const res = await db.query<{
    seq: number;
    id: string;
    actor_kind: string;
    actor_id: string | null;
    action: string;
    target_kind: string | null;
    target_id: string | null;
    outcome: string;
    metadata: unknown;
    ip: string | null;
    request_id: string | null;
    occurred_at: Date;
  }>(
    `select seq, id, actor_kind, actor_id, action, target_kind, target_id, outcome, metadata, host(ip) as ip, request_id, occurred_at
       from audit_events
      where tenant_id = $1
        and ($2::bigint is null or seq < $2)
        and ($4::text is null or action = $4 or (right($4, 1) = '.' and starts_with(action, $4)))
        and ($5::text is null or actor_kind = $5)
        and ($6::text is null or actor_id = $6)
        and ($7::text is null or target_kind = $7)
        and ($8::text is null or target_id = $8)
        and ($9::timestamptz is null or occurred_at >= $9)
        and ($10::timestamptz is null or occurred_at < $10)
      order by seq desc limit $3`,
    [
      p.tenantId,
      p.beforeSeq,
      p.limit,
      f.action,
      f.actorKind,
      f.actorId,
      f.targetKind,
      f.targetId,
      f.from,
      f.to,
    ],
  );
  return res.rows.map((r) => ({
    seq: Number(r.seq),
    id: r.id,
    actorKind: r.actor_kind,
    actorId: r.actor_id,
    action: r.action,
    targetKind: r.target_kind,
    targetId: r.target_id,
    outcome: r.outcome,
    metadata: r.metadata,
    ip: r.ip,
    requestId: r.request_id,
    occurredAt: r.occurred_at,
  }));
}

/**
 * Retention: deletes up to `limit` of the tenant's oldest events older than `keepDays` through
 * purge_audit_events (migration 0006), the only way past the append-only trigger. The database
 * refuses fewer than 30 days, or fewer than the tenant's own setting.
 */
export async function purgeAuditEvents(
  db: Queryable,
  p: { tenantId: TenantId; keepDays: number; limit: number },
): Promise<number> {
  const res = await db.query<{ purged: number }>(
    'select purge_audit_events($1, $2, $3) as purged',
    [p.tenantId, p.keepDays, p.limit],
  );
  return res.rows[0]?.purged ?? 0;
}

/** What purgeAuditEvents would remove in total: the chain's prefix older than the cutoff. */
export async function countPurgeableAuditEvents(
  db: Queryable,
  p: { tenantId: TenantId; keepDays: number },
): Promise<number> {
  const res = await db.query<{ n: number }>(
    `select count(*)::int as n from audit_events
      where tenant_id = $1 and seq < coalesce(
        (select seq from audit_events
          where tenant_id = $1 and occurred_at >= now() - make_interval(days => $2)
          order by seq limit 1),
        9223372036854775807)`,
    [p.tenantId, p.keepDays],
  );
  return res.rows[0]?.n ?? 0;
}

/**
 * OAuth connections marked `needs_reauth` (their `connection.needs_reauth` events, on the
 * time index) in (`since`, `now`]: how many events, the last one's time, the connection ids.
 */
export async function countReauthEventsSince(
  db: Queryable,
  p: { tenantId: TenantId; since: Date; now: Date },
): Promise<{ count: number; until: Date | null; connectionIds: string[] }> {
  const res = await db.query<{ n: number; until: Date | null; ids: string[] | null }>(
    `select count(*)::int as n, max(occurred_at) as until,
            array_agg(distinct target_id) filter (where target_id is not null) as ids
       from audit_events
      where tenant_id = $1 and action = 'connection.needs_reauth'
        and occurred_at > $2 and occurred_at <= $3`,
    [p.tenantId, p.since, p.now],
  );
  const r = res.rows[0]!;
  return { count: r.n, until: r.until, connectionIds: r.ids ?? [] };
}
