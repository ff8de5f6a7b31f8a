/**
 * forEach benchmark (not a test): `npm run bench:foreach` (node bench/foreach.ts).
 * Starts its own embedded PostgreSQL with normal durability (fsync and synchronous_commit on)
 * and measures, in one run on one machine, with one in-process worker and a no-op executor:
 *   (1) a single step's overhead, measured as bench:engine's (c) measures it: a 40-step no-op
 *       version-1 workflow, 4 runs at a time; the gap between consecutive step starts of a run
 *       is the engine's whole cost of a step (its transition, the next one's claim/prepare);
 *   (2) the same with 50 runs at a time (the loop's concurrency, for comparison under load);
 *   (3) a forEach of 1,000 no-op items at concurrency 50 (body: one no-op step). An item's
 *       overhead is the same gap for an item: from the start of the item whose end spawned
 *       it to its own start (the ending item's transition with the loop's bookkeeping, which
 *       claims the next item and starts its first step for the same slot). The k-th item to
 *       end spawns item 50 + k (the spawn counter is taken under the loop row's lock, in
 *       commit order). Compared with (2): the same number of lanes in flight;
 *   (4) the same at concurrency 4, compared with (1).
 * Prints a table and writes the "forEach" section of bench/RESULTS.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createTenantWithOwner } from '../src/accounts/create-tenant.ts';
import { defaultEngineConfig } from '../src/config/engine.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { deriveAppUrl, ensureAppRole } from '../src/db/roles.ts';
import { withTenant } from '../src/db/tenant.ts';
import { systemClock, systemRandom, type EngineDeps } from '../src/engine/deps.ts';
import { startRun } from '../src/engine/start-run.ts';
import { createWorker } from '../src/engine/worker.ts';
import type { RunId, TenantId, WorkflowId } from '../src/model/ids.ts';
import type { StepExecutor } from '../src/model/step.ts';
import { createLogger } from '../src/observability/logger.ts';
import { runnerMapping } from '../src/runner/mapping-evaluator.ts';
import { makeNoopAction, pct, progress, waitUntil, writeResultsSection } from './kit.ts';

const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'silent', name: 'bench' });
const ITEMS = 1_000;
const CONCURRENCY = 50;

const noop: StepExecutor = {
  execute: () => Promise.resolve({ status: 'succeeded', input: {}, output: null }),
};

function engineDeps(pool: pg.Pool, workerConcurrency: number): EngineDeps {
  return {
    pool,
    clock: systemClock,
    random: systemRandom,
    logger,
    config: defaultEngineConfig({ workerConcurrency, tenantMaxConcurrency: 1_000, pollMs: 500 }),
  };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-bench-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const server = await startEmbeddedPostgres({
    dataDir,
    port,
    logger,
    settings: { max_connections: '200', shared_buffers: '256MB' },
  });
  try {
    await migrate(server.ownerUrl, { logger });
    await ensureAppRole(server.ownerUrl, {
      role: 'switchyard_app',
      password: server.appPassword,
      logger,
    });
    const appUrl = deriveAppUrl(server.ownerUrl, 'switchyard_app', server.appPassword);
    const pool = createPool({
      url: appUrl,
      max: 20,
      connectTimeoutMs: 5_000,
      applicationName: 'bench',
      logger,
    });
    const owner = new pg.Pool({ connectionString: server.ownerUrl, max: 4 });
    owner.on('error', () => undefined);
    pool.on('error', () => undefined);
    const { tenantId } = await createTenantWithOwner(pool, {
      name: 'Bench',
      ownerEmail: 'bench@example.test',
      actor: { kind: 'system', id: 'bench' },
    });
    const actionId = await makeNoopAction(pool, tenantId, 'bench-foreach');
    const forty = await makeWorkflow(pool, tenantId, 'forty', {
      steps: Array.from({ length: 40 }, (_, i) => ({ id: `s${i}`, actionId, input: {} })),
    });
    const loopOf = (concurrency: number) =>
      makeWorkflow(pool, tenantId, `loop ${concurrency}`, {
        version: 2,
        steps: [
          {
            id: 'loop',
            type: 'forEach',
            items: '{{ trigger.items }}',
            concurrency,
            steps: [{ id: 'item', actionId, input: {} }],
          },
        ],
      });
    const loop = await loopOf(CONCURRENCY);
    const loop4 = await loopOf(4);

    // (1), (2): consecutive step starts of a run.
    const measureSteps = async (runsAtOnce: number, runs: number): Promise<number[]> => {
      const starts = new Map<string, number[]>();
      const executor: StepExecutor = {
        execute(req) {
          const arr = starts.get(req.context.runId) ?? [];
          arr.push(performance.now());
          starts.set(req.context.runId, arr);
          return noop.execute(req, new AbortController().signal);
        },
      };
      const deps = engineDeps(pool, runsAtOnce);
      const w = createWorker(deps, { executor, listenUrl: appUrl });
      w.start();
      for (let i = 0; i < runs; i++)
        await startRun(deps, { tenantId, workflowId: forty, input: { i } });
      await waitUntil(
        () => [...starts.values()].filter((a) => a.length === 40).length === runs,
        180_000,
      );
      await waitUntil(async () => (await countJobs(owner)) === 0, 30_000);
      await w.stop();
      return [...starts.values()]
        .flatMap((a) => a.slice(1).map((t, i) => t - a[i]!))
        .sort((a, b) => a - b);
    };

    // (3), (4): the loop's items.
    const measureLoop = async (
      workflowId: WorkflowId,
      concurrency: number,
    ): Promise<{ gaps: number[]; seconds: number }> => {
      const itemStart = new Map<number, number>();
      const executor: StepExecutor = {
        execute(req) {
          const index = req.context.loop?.index;
          if (index !== undefined && !itemStart.has(index)) itemStart.set(index, performance.now());
          return noop.execute(req, new AbortController().signal);
        },
      };
      // Slots for every item the loop may have in flight, as for (1)'s and (2)'s runs.
      const deps = engineDeps(pool, concurrency);
      const w = createWorker(deps, { executor, listenUrl: appUrl, mapping: runnerMapping });
      w.start();
      const t0 = performance.now();
      const items = Array.from({ length: ITEMS }, (_, i) => i);
      const { runId } = await startRun(deps, { tenantId, workflowId, input: { items } });
      await waitUntil(async () => (await runStatus(owner, runId)) === 'succeeded', 180_000, 5);
      const seconds = (performance.now() - t0) / 1000;
      await w.stop();
      const ends = await owner.query<{ item_index: number }>(
        `select item_index from step_runs
          where run_id = $1 and step_id = 'item' and status = 'succeeded'
          order by finished_at, item_index`,
        [runId],
      );
      const gaps: number[] = [];
      ends.rows.forEach((e, k) => {
        const spawned = concurrency + k;
        const a = itemStart.get(e.item_index);
        const b = itemStart.get(spawned);
        if (a !== undefined && b !== undefined) gaps.push(b - a);
      });
      return { gaps: gaps.sort((a, b) => a - b), seconds };
    };

    progress('warm-up');
    await measureSteps(4, 4);
    await analyze(owner);
    progress('1');
    const steps4 = await measureSteps(4, 24);
    progress('2');
    const steps50 = await measureSteps(CONCURRENCY, 100);
    progress('3');
    const items = await measureLoop(loop, CONCURRENCY);
    progress('4');
    const items4 = await measureLoop(loop4, 4);
    await owner.end();
    await pool.end();

    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : 'n/a');
    const ratio = pct(items.gaps, 50) / pct(steps50, 50);
    const ratio4 = pct(items4.gaps, 50) / pct(steps4, 50);
    const rows = [
      [
        '(1) a step’s overhead, 40-step no-op, 4 runs at a time, p50 / p95',
        `${f(pct(steps4, 50))} / ${f(pct(steps4, 95))} ms`,
        `${steps4.length} step transitions (bench:engine's (c))`,
      ],
      [
        '(2) the same, 50 runs at a time, p50 / p95',
        `${f(pct(steps50, 50))} / ${f(pct(steps50, 95))} ms`,
        `${steps50.length} step transitions`,
      ],
      [
        `(3) an item’s overhead, ${ITEMS} no-op items at concurrency ${CONCURRENCY}, p50 / p95`,
        `${f(pct(items.gaps, 50))} / ${f(pct(items.gaps, 95))} ms`,
        `${items.gaps.length} items spawned by an ending item; ${f(ratio)} × (2)'s p50 (the same concurrency); the loop took ${f(items.seconds)} s (${f(ITEMS / items.seconds)} items/s)`,
      ],
      [
        `(4) the same at concurrency 4, p50 / p95`,
        `${f(pct(items4.gaps, 50))} / ${f(pct(items4.gaps, 95))} ms`,
        `${items4.gaps.length} items; ${f(ratio4)} × (1)'s p50 (target ≤ 2×); the loop took ${f(items4.seconds)} s`,
      ],
    ];
    const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, embedded PostgreSQL (fsync on, synchronous_commit on); load average at the end ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')} (other processes share the machine)`;
    const table = [
      '| measure | result | notes |',
      '|---|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
    process.stdout.write(`\n${table}\n\nMachine: ${machine}\n`);
    await writeResults(table, machine);
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function makeWorkflow(
  pool: pg.Pool,
  tenantId: TenantId,
  name: string,
  definition: unknown,
): Promise<WorkflowId> {
  return withTenant(pool, tenantId, async (db) => {
    const wf = await db.query<{ id: WorkflowId }>(
      `insert into workflows (tenant_id, name) values ($1, $2) returning id`,
      [tenantId, name],
    );
    const v = await db.query<{ id: string }>(
      `insert into workflow_versions (tenant_id, workflow_id, version, definition) values ($1, $2, 1, $3) returning id`,
      [tenantId, wf.rows[0]!.id, JSON.stringify(definition)],
    );
    await db.query(
      'update workflows set current_version_id = $3 where tenant_id = $1 and id = $2',
      [tenantId, wf.rows[0]!.id, v.rows[0]!.id],
    );
    return wf.rows[0]!.id;
  });
}

/** Statistics as a running server has them (autovacuum), as bench:engine does. */
async function analyze(owner: pg.Pool): Promise<void> {
  await owner.query('analyze jobs, workflow_runs, step_runs');
}

async function countJobs(owner: pg.Pool): Promise<number> {
  return (await owner.query<{ n: number }>('select count(*)::int n from jobs')).rows[0]!.n;
}

async function runStatus(owner: pg.Pool, runId: RunId): Promise<string> {
  const r = await owner.query<{ status: string }>(
    'select status from workflow_runs where id = $1',
    [runId],
  );
  return r.rows[0]?.status ?? 'missing';
}

async function writeResults(table: string, machine: string): Promise<void> {
  await writeResultsSection(
    'forEach',
    `Recorded ${new Date().toISOString()} by \`npm run bench:foreach\`: one in-process worker (as many slots as the runs or items in flight), a no-op executor, all four measures in the same run. (1) is measured as bench:engine's (c) (the earlier 1.65 ms, on a quiet machine): the gap between consecutive step starts of a run. An item's overhead is the same gap for an item: from the start of the item whose end spawned it to its own start — the ending item's transaction records its result and claims the next item, starting its first step, for the same slot (no claim or prepare of its own). Compare (3) with (2) and (4) with (1): the same number of lanes in flight. A loaded machine stretches every figure alike; read the ratios.\n\n${table}\n\nMachine: ${machine}\n`,
  );
}

await main();
