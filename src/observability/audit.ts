/**
 * The audit trail: append-only, hash-chained per tenant (migration 0001 does the chaining
 * inside the database so that no writer can skip it).
 */
import {
  insertAuditEvent,
  selectAuditChainPage,
  type NewAuditEvent,
} from '../db/queries/audit-events.ts';
import type { Queryable } from '../db/pool.ts';
import type { TenantId } from '../model/ids.ts';

export type AuditInput = Omit<
  NewAuditEvent,
  'outcome' | 'metadata' | 'ip' | 'requestId' | 'targetKind' | 'targetId'
> &
  Partial<
    Pick<NewAuditEvent, 'outcome' | 'metadata' | 'ip' | 'requestId' | 'targetKind' | 'targetId'>
  >;

/** Records one event in the caller's transaction, so the event and the change commit together. */
export async function recordAudit(db: Queryable, e: AuditInput): Promise<void> {
  await insertAuditEvent(db, {
    outcome: 'success',
    metadata: {},
    ip: null,
    requestId: null,
    targetKind: null,
    targetId: null,
    ...e,
  });
}

export type ChainVerdict =
  | { ok: true; events: number }
  | {
      ok: false;
      events: number;
      brokenAtSeq: number;
      reason: 'hash-mismatch' | 'link-mismatch' | 'gap';
    };

/**
 * Walks a tenant's chain in order and reports the first event whose stored hash does not match
 * its content, whose prev_hash does not match its predecessor, or whose seq skips a number.
 * The first event kept (after retention) anchors the chain: its prev_hash is trusted.
 */
export async function verifyAuditChain(
  db: Queryable,
  tenantId: TenantId,
  pageSize = 1000,
): Promise<ChainVerdict> {
  let afterSeq = 0;
  let previous: { seq: number; hash: Buffer } | undefined;
  let events = 0;
  for (;;) {
    const page = await selectAuditChainPage(db, { tenantId, afterSeq, limit: pageSize });
    for (const row of page) {
      events++;
      if (!row.hashOk) return { ok: false, events, brokenAtSeq: row.seq, reason: 'hash-mismatch' };
      if (previous) {
        if (row.seq !== previous.seq + 1)
          return { ok: false, events, brokenAtSeq: row.seq, reason: 'gap' };
        if (!row.prevHash.equals(previous.hash)) {
          return { ok: false, events, brokenAtSeq: row.seq, reason: 'link-mismatch' };
        }
      }
      previous = { seq: row.seq, hash: row.hash };
    }
    if (page.length < pageSize) return { ok: true, events };
    afterSeq = page[page.length - 1]!.seq;
  }
}
