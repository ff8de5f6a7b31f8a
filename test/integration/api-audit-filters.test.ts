/**
 * The audit trail and the access history filtered on the server and paged with the cursor
 * connection of `runs`: by actor, action (exact or a prefix), target and a half-open time range,
 * every page disjoint and the union the whole filtered set, another tenant's rows never in it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertAccessLogEntries, type AccessLogEntry } from '../../src/db/queries/access-log.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let owner: string;
let tenantId: string;
let otherTenantId: string;
const DAY = Date.parse('2026-03-10T00:00:00Z');

type Page<T> = { nodes: T[]; endCursor: string | null; hasNextPage: boolean };
type Event = { seq: number; action: string; actorId: string | null; targetId: string | null };
type Entry = { id: number; operationName: string | null; occurredAt: string; actorId: string };

async function gql<T>(query: string, variables: Record<string, unknown> = {}) {
  const res = await api.gql<T>(query, variables, { token: owner });
  return res;
}

/** Every page of a filter, following endCursor; checks the pages do not overlap. */
async function all<T extends { [k: string]: unknown }>(
  field: 'auditEvents' | 'accessLog',
  selection: string,
  filter: Record<string, unknown>,
  first: number,
): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  for (let i = 0; i < 50; i++) {
    const res: Awaited<ReturnType<typeof gql<Record<string, Page<T>>>>> = await gql<
      Record<string, Page<T>>
    >(
      `query($f: ${field === 'auditEvents' ? 'AuditEventFilter' : 'AccessLogFilter'}, $n: Int, $a: String) {
        ${field}(filter: $f, first: $n, after: $a) { nodes { ${selection} } endCursor hasNextPage } }`,
      { f: filter, n: first, a: after },
    );
    expect(res.errors).toBeUndefined();
    const page = res.data![field]!;
    out.push(...page.nodes);
    if (!page.hasNextPage) return out;
    expect(page.endCursor).not.toBeNull();
    after = page.endCursor;
  }
  throw new Error('too many pages');
}

async function auditAt(tenant: string, at: Date, action: string, actorId: string, target: string) {
  await db.ownerPool.query(
    `insert into audit_events (tenant_id, actor_kind, actor_id, action, target_kind, target_id, occurred_at, prev_hash, hash)
     values ($1, 'user', $2, $3, 'workflow', $4, $5, '\\x', '\\x')`,
    [tenant, actorId, action, target, at],
  );
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  const t = await makeTenant(db.pool, 'Filtered');
  owner = t.apiToken;
  tenantId = t.tenantId;
  otherTenantId = (await makeTenant(db.pool, 'Other')).tenantId;
  // 30 events an hour apart from DAY, by two actors, on three workflows; the other tenant has
  // the same actions at the same times.
  for (let i = 0; i < 30; i++) {
    const at = new Date(DAY + i * 3_600_000);
    const action = i % 3 === 0 ? 'workflow.created' : 'workflow.version_published';
    await auditAt(tenantId, at, action, i % 2 ? 'alice' : 'bob', `wf-${i % 3}`);
    await auditAt(otherTenantId, at, action, 'alice', `wf-${i % 3}`);
  }
  const entries: Omit<AccessLogEntry, 'tenantId'>[] = [];
  for (let i = 0; i < 25; i++) {
    const base = {
      actorKind: 'user' as const,
      actorId: i % 5 === 0 ? 'carol' : 'dave',
      tokenId: null,
      operationKind: 'query',
      operationName: i % 2 ? 'Runs' : 'Workflows',
      outcome: i % 7 === 0 ? 'error:E_FORBIDDEN' : 'ok',
      durationMs: 3,
      ip: '127.0.0.1',
      requestId: null,
      // Two entries share each time: the cursor must order them by id as well.
      occurredAt: new Date(DAY + Math.floor(i / 2) * 60_000),
    };
    entries.push(base);
  }
  await insertAccessLogEntries(
    db.ownerPool,
    entries.map((e) => ({ ...e, tenantId })),
  );
  await insertAccessLogEntries(
    db.ownerPool,
    entries.map((e) => ({ ...e, tenantId: otherTenantId })),
  );
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('auditEvents', () => {
  const range = {
    from: new Date(DAY).toISOString(),
    to: new Date(DAY + 30 * 3_600_000).toISOString(),
  };

  it('pages a time range newest first with disjoint pages whose union is the range', async () => {
    const events = await all<Event>('auditEvents', 'seq action actorId targetId', range, 7);
    expect(events).toHaveLength(30);
    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(new Set(seqs).size).toBe(30);
  });

  it('filters by actor, exact action, action prefix, target and a half-open time range', async () => {
    const byActor = await all<Event>(
      'auditEvents',
      'seq actorId',
      { ...range, actorId: 'alice' },
      4,
    );
    expect(byActor).toHaveLength(15);
    expect(byActor.every((e) => e.actorId === 'alice')).toBe(true);

    const created = await all<Event>(
      'auditEvents',
      'action',
      { ...range, action: 'workflow.created' },
      100,
    );
    expect(created).toHaveLength(10);
    const prefix = await all<Event>(
      'auditEvents',
      'action',
      { ...range, action: 'workflow.' },
      100,
    );
    expect(prefix).toHaveLength(30);
    const notAPrefix = await all<Event>(
      'auditEvents',
      'action',
      { ...range, action: 'workflow' },
      100,
    );
    expect(notAPrefix).toHaveLength(0);

    const target = await all<Event>(
      'auditEvents',
      'targetId',
      { ...range, targetKind: 'workflow', targetId: 'wf-1' },
      3,
    );
    expect(target).toHaveLength(10);

    // [from, to): the event at `to` is not included, the one at `from` is.
    const hours = await all<Event>(
      'auditEvents',
      'seq',
      {
        from: new Date(DAY + 3_600_000).toISOString(),
        to: new Date(DAY + 4 * 3_600_000).toISOString(),
      },
      100,
    );
    expect(hours).toHaveLength(3);
  });

  it('refuses a range that ends before it starts, a foreign cursor and a page too large', async () => {
    const backwards = await gql(
      `query($f: AuditEventFilter) { auditEvents(filter: $f) { nodes { seq } } }`,
      { f: { from: range.to, to: range.from } },
    );
    expect(backwards.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'to' });
    const cursor = await gql(`{ auditEvents(after: "not-a-cursor") { nodes { seq } } }`);
    expect(cursor.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'after' });
    const big = await gql(`{ auditEvents(first: 101) { nodes { seq } } }`);
    expect(big.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'first' });
  });
});

describe('accessLog', () => {
  const range = { from: new Date(DAY).toISOString(), to: new Date(DAY + 86_400_000).toISOString() };

  it('pages entries that share a time by (time, id) without losing or repeating one', async () => {
    const entries = await all<Entry>('accessLog', 'id occurredAt', range, 3);
    expect(entries).toHaveLength(25);
    expect(new Set(entries.map((e) => e.id)).size).toBe(25);
    const keys = entries.map((e) => [Date.parse(e.occurredAt), e.id] as const);
    for (let i = 1; i < keys.length; i++) {
      const [t0, id0] = keys[i - 1]!;
      const [t1, id1] = keys[i]!;
      expect(t1 < t0 || (t1 === t0 && id1 < id0)).toBe(true);
    }
  });

  it('filters by actor, operation, outcome and time', async () => {
    expect(await all<Entry>('accessLog', 'id', { ...range, actorId: 'carol' }, 2)).toHaveLength(5);
    expect(
      await all<Entry>('accessLog', 'id', { ...range, operationName: 'Runs' }, 5),
    ).toHaveLength(12);
    expect(
      await all<Entry>('accessLog', 'id', { ...range, outcome: 'error:E_FORBIDDEN' }, 5),
    ).toHaveLength(4);
    const firstTwoMinutes = await all<Entry>(
      'accessLog',
      'id',
      { from: new Date(DAY).toISOString(), to: new Date(DAY + 120_000).toISOString() },
      100,
    );
    expect(firstTwoMinutes).toHaveLength(4);
  });
});
