import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createBackpressure, type Backpressure } from '../../src/engine/backpressure.ts';
import type { EngineDeps } from '../../src/engine/deps.ts';
import { createRunIntake, type RunIntake } from '../../src/engine/intake.ts';
import {
  startRun as startAlone,
  type StartRunInput,
  type StartRunResult,
} from '../../src/engine/start-run.ts';
import { isSwitchyardError } from '../../src/model/errors.ts';
import type { TenantId, WorkflowId } from '../../src/model/ids.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  engineDeps,
  fakeClock,
  makeAction,
  makeWorkflow,
  sleep,
  waitFor,
} from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let tenantId: TenantId;
let workflowId: WorkflowId;
beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = (await makeTenant(db.pool)).tenantId;
  const actionId = await makeAction(db.pool, tenantId);
  workflowId = (await makeWorkflow(db.pool, tenantId, [{ id: 'a', actionId }])).workflowId;
});
afterAll(async () => {
  await db.drop();
});

const count = async (sql: string, params: unknown[]) =>
  Number((await db.ownerPool.query<{ n: string }>(sql, params)).rows[0]!.n);

type Deps = Pick<EngineDeps, 'pool' | 'clock' | 'config' | 'logger'> & {
  backpressure?: Backpressure;
};
type Start = (deps: Deps, p: StartRunInput) => Promise<StartRunResult>;

/** The batched intake, one per deps object (so that concurrent starts share its lanes). */
const intakes = new WeakMap<Deps, RunIntake>();
const startBatched: Start = async (deps, p) => {
  if (deps.backpressure) await deps.backpressure.assertAccepting(p.tenantId);
  let intake = intakes.get(deps);
  if (!intake) intakes.set(deps, (intake = createRunIntake(deps)));
  return intake.start(p);
};

describe.each([
  ['one transaction per start', startAlone],
  ['the batched intake', startBatched],
])('starting a run (%s)', (_name, startRun) => {
  it('creates the run (pinned to the current version) and its first job together', async () => {
    const deps = engineDeps(db.pool);
    const r = await startRun(deps, { tenantId, workflowId, input: { x: 1 } });
    expect(r.duplicate).toBe(false);
    const run = await db.ownerPool.query(
      `select r.status, r.workflow_version_id = w.current_version_id as pinned
         from workflow_runs r join workflows w on w.tenant_id = r.tenant_id and w.id = r.workflow_id
        where r.id = $1`,
      [r.runId],
    );
    expect(run.rows[0]).toEqual({ status: 'queued', pinned: true });
    expect(
      await count('select count(*) n from jobs where run_id = $1 and step_index = 0', [r.runId]),
    ).toBe(1);
  });

  it('50 concurrent starts with one key make one run; another payload conflicts', async () => {
    const deps = engineDeps(db.pool);
    const key = `order-${Date.now()}`;
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        startRun(deps, {
          tenantId,
          workflowId,
          input: { order: 42, items: [1, 2] },
          idempotencyKey: key,
        }),
      ),
    );
    const ids = new Set(results.map((r) => r.runId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(
      await count('select count(*) n from workflow_runs where idempotency_key = $1', [key]),
    ).toBe(1);
    expect(await count('select count(*) n from jobs where run_id = $1', [[...ids][0]])).toBe(1);
    // Same payload with keys in another order: still a duplicate.
    const again = await startRun(deps, {
      tenantId,
      workflowId,
      input: { items: [1, 2], order: 42 },
      idempotencyKey: key,
    });
    expect(again).toEqual({ runId: [...ids][0], duplicate: true });
    const err = await startRun(deps, {
      tenantId,
      workflowId,
      input: { order: 43 },
      idempotencyKey: key,
    }).catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_IDEMPOTENCY_CONFLICT')).toBe(true);
  });

  it('honours a key for its TTL even after retention removed the run, then frees it', async () => {
    const clock = fakeClock();
    const deps = engineDeps(db.pool, { clock, config: { idempotencyKeyTtlMs: 60_000 } });
    const key = `ttl-${Math.random()}`;
    const first = await startRun(deps, { tenantId, workflowId, input: {}, idempotencyKey: key });
    await db.ownerPool.query('delete from workflow_runs where id = $1', [first.runId]);
    clock.advance(59_999);
    expect(await startRun(deps, { tenantId, workflowId, input: {}, idempotencyKey: key })).toEqual({
      runId: first.runId,
      duplicate: true,
    });
    clock.advance(1);
    const later = await startRun(deps, {
      tenantId,
      workflowId,
      input: { other: true },
      idempotencyKey: key,
    });
    expect(later.duplicate).toBe(false);
    expect(later.runId).not.toBe(first.runId);
  });

  it('refuses an unpublished workflow and stores a valid traceparent', async () => {
    const deps = engineDeps(db.pool);
    const wf = await db.ownerPool.query<{ id: WorkflowId }>(
      `insert into workflows (tenant_id, name) values ($1, 'draft') returning id`,
      [tenantId],
    );
    const err = await startRun(deps, { tenantId, workflowId: wf.rows[0]!.id, input: {} }).catch(
      (e: unknown) => e,
    );
    expect(isSwitchyardError(err, 'E_WORKFLOW_NOT_PUBLISHED')).toBe(true);
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const r = await startRun(deps, { tenantId, workflowId, input: {}, traceparent: tp });
    const bad = await startRun(deps, { tenantId, workflowId, input: {}, traceparent: 'garbage' });
    const rows = await db.ownerPool.query<{ id: string; trace_context: string | null }>(
      'select id, trace_context from workflow_runs where id = any($1)',
      [[r.runId, bad.runId]],
    );
    const byId = new Map(rows.rows.map((x) => [x.id, x.trace_context]));
    expect(byId.get(r.runId)).toBe(tp);
    expect(byId.get(bad.runId)).toBeNull();
  });

  it('refuses new runs past the queue-depth limits with typed, retryable errors', async () => {
    const t2 = (await makeTenant(db.pool)).tenantId;
    const a2 = await makeAction(db.pool, t2);
    const wf2 = (await makeWorkflow(db.pool, t2, [{ id: 'a', actionId: a2 }])).workflowId;
    const base = engineDeps(db.pool, { config: { queueMaxDepthPerTenant: 3 } });
    const bp = createBackpressure(base);
    const deps = { ...base, backpressure: bp };
    for (let i = 0; i < 3; i++)
      await startRun(deps, { tenantId: t2, workflowId: wf2, input: { i } });
    const err = await startRun(deps, { tenantId: t2, workflowId: wf2, input: {} }).catch(
      (e: unknown) => e,
    );
    expect(isSwitchyardError(err, 'E_TENANT_OVERLOADED')).toBe(true);
    expect(isSwitchyardError(err) && err.httpStatus).toBe(429);
    expect(isSwitchyardError(err) && err.details.retryAfterMs).toBeGreaterThan(0);
    // Another tenant is not affected by t2's flood.
    const t3 = (await makeTenant(db.pool)).tenantId;
    const a3 = await makeAction(db.pool, t3);
    const wf3 = (await makeWorkflow(db.pool, t3, [{ id: 'a', actionId: a3 }])).workflowId;
    await expect(
      startRun(deps, { tenantId: t3, workflowId: wf3, input: {} }),
    ).resolves.toBeTruthy();

    expect((await bp.status()).overloaded).toBe(false);
  });
});

describe('backpressure', () => {
  it('past QUEUE_MAX_DEPTH (the whole queue, as PostgreSQL estimates it) every tenant gets 503', async () => {
    const deps = engineDeps(db.pool, { config: { queueMaxDepth: 1 } });
    const bp = createBackpressure(deps);
    // The estimate follows the backends' statistics reports (within seconds).
    // One read is judged whole: the estimate can move between two reads (statistics reports).
    let seen: Awaited<ReturnType<typeof bp.status>> | undefined;
    await expect
      .poll(async () => (seen = await bp.status()), { timeout: 15_000 })
      .toMatchObject({ overloaded: true });
    const depth = seen!.depth;
    expect(depth).toBeGreaterThan(0);
    expect(depth).toBeLessThanOrEqual(2 * (await count('select count(*) n from jobs', [])) + 10);
    // The estimate may move between two reads on a busy server (statistics reports, autovacuum):
    // the refusal is asked for until it comes, within the same bound.
    const refusal = async () => {
      const err = await startAlone(
        { ...deps, backpressure: bp },
        { tenantId, workflowId, input: {} },
      ).catch((e: unknown) => e);
      return isSwitchyardError(err, 'E_QUEUE_OVERLOADED') ? err.httpStatus : 'accepted';
    };
    await expect.poll(refusal, { timeout: 15_000 }).toBe(503);
  });

  it('a start never waits for a queue count: a recent one is used while a new one runs', async () => {
    const t = (await makeTenant(db.pool)).tenantId;
    const a = await makeAction(db.pool, t);
    const wf = (await makeWorkflow(db.pool, t, [{ id: 'a', actionId: a }])).workflowId;
    const clock = fakeClock(new Date());
    const bp = createBackpressure(
      engineDeps(db.pool, {
        clock,
        config: { queueMaxDepthPerTenant: 2, queueDepthRefreshMs: 1_000 },
      }),
    );
    await bp.assertAccepting(t); // first count: 0 queued
    for (let i = 0; i < 2; i++)
      await startAlone(engineDeps(db.pool), { tenantId: t, workflowId: wf, input: { i } });
    // Within the interval the count is not read again.
    clock.advance(500);
    await expect(bp.assertAccepting(t)).resolves.toBeUndefined();
    // Stale but recent: answered from the last count at once, a new count starts meanwhile...
    clock.advance(1_000);
    await expect(bp.assertAccepting(t)).resolves.toBeUndefined();
    // ...and refuses once it has landed.
    await expect
      .poll(() =>
        bp.assertAccepting(t).then(
          () => 'accepted',
          (e: unknown) => (isSwitchyardError(e) ? e.code : 'other'),
        ),
      )
      .toBe('E_TENANT_OVERLOADED');
    // Too old to use (more than 3 intervals): the caller waits for a fresh count.
    await db.ownerPool.query('delete from jobs where tenant_id = $1', [t]);
    clock.advance(10_000);
    await expect(bp.assertAccepting(t)).resolves.toBeUndefined();
  });
});

describe('the batched intake', () => {
  const codeOf = (r: PromiseSettledResult<StartRunResult>) =>
    r.status === 'rejected' && isSwitchyardError(r.reason) ? r.reason.code : r.status;

  /** Starts `n` good runs tagged `tag` together with `extra`; returns the extras' outcomes. */
  const startTogether = async (tag: string, n: number, extra: StartRunInput[]) => {
    const deps = engineDeps(db.pool);
    const good = Array.from({ length: n }, (_, i) => ({ tenantId, workflowId, input: { tag, i } }));
    const settled = await Promise.allSettled([...good, ...extra].map((p) => startBatched(deps, p)));
    expect(settled.slice(0, n).map(codeOf)).toEqual(good.map(() => 'fulfilled'));
    const rows = await db.ownerPool.query<{ xmin: string; jobs: string }>(
      `select r.xmin::text, (select count(*) from jobs j where j.run_id = r.id) jobs
         from workflow_runs r where r.input->>'tag' = $1`,
      [tag],
    );
    expect(rows.rows.map((r) => Number(r.jobs))).toEqual(good.map(() => 1));
    return { extras: settled.slice(n), transactions: new Set(rows.rows.map((r) => r.xmin)).size };
  };

  it('commits concurrent starts together; refused items cost the others nothing', async () => {
    const existing = await startBatched(engineDeps(db.pool), {
      tenantId,
      workflowId,
      input: { n: 'first' },
      idempotencyKey: 'mixed-batch',
    });
    const draft = await db.ownerPool.query<{ id: WorkflowId }>(
      `insert into workflows (tenant_id, name) values ($1, 'draft-2') returning id`,
      [tenantId],
    );
    const { extras, transactions } = await startTogether(`batch-${Date.now()}`, 20, [
      { tenantId, workflowId: draft.rows[0]!.id, input: {} },
      { tenantId, workflowId, input: { n: 'other' }, idempotencyKey: 'mixed-batch' },
      { tenantId, workflowId, input: { n: 'first' }, idempotencyKey: 'mixed-batch' },
    ]);
    expect(extras.map(codeOf)).toEqual([
      'E_WORKFLOW_NOT_PUBLISHED',
      'E_IDEMPOTENCY_CONFLICT',
      'fulfilled',
    ]);
    expect(extras[2]).toEqual({
      status: 'fulfilled',
      value: { runId: existing.runId, duplicate: true },
    });
    expect(transactions).toBeLessThan(20);
  });

  it('redeliveries racing their originals in reverse order: one run per key, no deadlock', async () => {
    const deadlocks = async () =>
      Number(
        (
          await db.ownerPool.query<{ n: string }>(
            'select deadlocks::text as n from pg_stat_database where datname = current_database()',
          )
        ).rows[0]!.n,
      );
    const before = await deadlocks();
    const deps = engineDeps(db.pool);
    const tag = `race-${Date.now()}`;
    const n = 300;
    const keys = Array.from({ length: n }, (_, i) => `${tag}-${String(i).padStart(3, '0')}`);
    const start = (key: string) =>
      startBatched(deps, { tenantId, workflowId, input: { tag, key }, idempotencyKey: key });
    const results = await Promise.all([...keys.map(start), ...[...keys].reverse().map(start)]);
    const byKey = new Map<string, Set<string>>();
    results.forEach((r, i) => {
      const key = i < n ? keys[i]! : keys[2 * n - 1 - i]!;
      byKey.set(key, (byKey.get(key) ?? new Set()).add(r.runId));
    });
    expect([...byKey.values()].map((ids) => ids.size)).toEqual(keys.map(() => 1));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(n);
    expect(await deadlocks()).toBe(before);
  });

  it('wakes the workers and tells the views once its batch is committed', async () => {
    const listener = new pg.Client({ connectionString: db.appUrl });
    await listener.connect();
    const heard: { channel: string; payload: string; visible: Promise<number> }[] = [];
    listener.on('notification', (n) => {
      const payload = n.payload ?? '';
      const ids =
        n.channel === 'sy_run_changes'
          ? (JSON.parse(payload) as { r: string[][] }).r.map((r) => r[0])
          : [];
      // What a view reads when the news arrives: the runs it names are there.
      const visible = db.ownerPool
        .query<{ n: number }>('select count(*)::int as n from workflow_runs where id = any($1)', [
          ids,
        ])
        .then((r) => r.rows[0]!.n);
      heard.push({ channel: n.channel, payload, visible });
    });
    await listener.query('listen switchyard_jobs; listen sy_run_changes');
    try {
      const deps = engineDeps(db.pool);
      const tag = `notify-${Date.now()}`;
      const first = await startBatched(deps, {
        tenantId,
        workflowId,
        input: { tag },
        idempotencyKey: tag,
      });
      const more = await Promise.all(
        [1, 2, 3, 4].map((i) => startBatched(deps, { tenantId, workflowId, input: { tag, i } })),
      );
      // A redelivery starts nothing: nothing to tell.
      const again = await startBatched(deps, {
        tenantId,
        workflowId,
        input: { tag },
        idempotencyKey: tag,
      });
      expect(again).toEqual({ runId: first.runId, duplicate: true });
      const started = [first, ...more].map((r) => r.runId).sort();
      const changes = () =>
        heard
          .filter((h) => h.channel === 'sy_run_changes')
          .flatMap((h) => (JSON.parse(h.payload) as { t: string; r: string[][] }).r);
      await waitFor(() => changes().length >= 5, { what: 'the run changes of 5 starts' });
      await sleep(200);
      expect(
        changes()
          .map((r) => r[0])
          .sort(),
      ).toEqual(started);
      expect(new Set(changes().map((r) => `${r[1]}:${r[2]}`))).toEqual(
        new Set([`${workflowId}:queued`]),
      );
      for (const h of heard.filter((x) => x.channel === 'sy_run_changes'))
        expect(JSON.parse(h.payload)).toMatchObject({ t: tenantId });
      expect(heard.filter((h) => h.channel === 'switchyard_jobs').length).toBeGreaterThan(0);
      const seen = await Promise.all(heard.map((h) => h.visible));
      heard.forEach((h, i) => {
        if (h.channel === 'sy_run_changes')
          expect(seen[i]).toBe((JSON.parse(h.payload) as { r: unknown[] }).r.length);
      });
    } finally {
      await listener.end();
    }
  });

  it('an input PostgreSQL cannot store fails alone, with E_VALIDATION', async () => {
    const { extras } = await startTogether(`nul-${Date.now()}`, 10, [
      { tenantId, workflowId, input: { text: 'nul \u0000 here' } },
    ]);
    expect(extras.map(codeOf)).toEqual(['E_VALIDATION']);
  });

  it('idle() waits for every start in flight, so a stop that then closes the pool loses none', async () => {
    const pool = new pg.Pool({ connectionString: db.appUrl, max: 4 });
    const intake = createRunIntake(engineDeps(pool));
    const tag = `drain-${Date.now()}`;
    const answered: string[] = [];
    try {
      const starts = Array.from({ length: 40 }, (_, i) =>
        intake
          .start({ tenantId, workflowId, input: { tag, i } })
          .then((r) => void answered.push(r.runId)),
      );
      await intake.idle();
      // Every caller has its answer before the stop goes on to close the database.
      expect(answered).toHaveLength(40);
      await Promise.all(starts);
    } finally {
      await pool.end();
    }
    expect(
      await count(`select count(*) n from workflow_runs where input->>'tag' = $1`, [tag]),
    ).toBe(40);
    await intake.idle(); // nothing in flight: at once
  });

  it('answers a typed, retryable error when the database cannot be reached', async () => {
    const dead = new pg.Pool({
      connectionString: 'postgres://nobody@127.0.0.1:1/none',
      connectionTimeoutMillis: 2_000,
    });
    try {
      const err = await createRunIntake(engineDeps(dead))
        .start({ tenantId, workflowId, input: {} })
        .catch((e: unknown) => e);
      expect(isSwitchyardError(err, 'E_DB_UNREACHABLE')).toBe(true);
      expect(isSwitchyardError(err) && err.retryable).toBe(true);
    } finally {
      await dead.end();
    }
  });
});
