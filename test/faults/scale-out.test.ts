/**
 * The scale-out topology on one machine, with the processes the image runs: two `api` behind a
 * round-robin load balancer, three `worker`s and two `scheduler`s on one PostgreSQL, directly
 * and again through PgBouncer in transaction pooling mode. Signed webhooks go through both
 * APIs while every role is SIGKILLed at random and PostgreSQL restarts once; the ledger at the
 * end: every accepted delivery has exactly one run and it succeeded with each step succeeded
 * exactly once, the cron trigger fired once per tick (or counted the tick as missed), and the
 * two APIs together enforce one webhook rate limit, not twice it.
 *
 * Bounded for CI (about a minute and a half per topology); SCALE_OUT_CHAOS_S=600 runs the
 * chaos phase for ten minutes instead of 25 s. The PgBouncer topology migrates as an owner
 * without superuser (managed PostgreSQL); SCALE_OUT_OWNER=non-superuser does so for the direct
 * one too. SCALE_OUT_LOG_DIR keeps every process's output.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { deriveAppUrl, ensureAppRole } from '../../src/db/roles.ts';
import { waitForStatus } from '../support/cli.ts';
import { testLogger } from '../support/db.ts';
import { makeCronTrigger, sleep, waitFor } from '../support/engine-factories.ts';
import { makeTenant } from '../support/factories.ts';
import { freePort } from '../support/free-port.ts';
import { startLoadBalancer } from '../support/lb.ts';
import { deliver, deliverOnce, makeHookWorkflow, percentile, pooled } from '../support/lb-load.ts';
import {
  isAlive,
  makeNonSuperuserOwner,
  spawnRole,
  startPgBouncer,
  type RoleProcess,
} from '../support/lb-topology.ts';
import type { WorkflowId } from '../../src/model/ids.ts';

const CHAOS_MS = Number(process.env.SCALE_OUT_CHAOS_S ?? 25) * 1_000;
const KILL_EVERY_MS = 2_500;
/** Per trigger, for the whole deployment; each API enforces half (RATE_LIMIT_PROCESS_SHARE=2). */
const TRIGGER_PER_MINUTE = 120;
const settings = { fsync: 'off', full_page_writes: 'off', max_connections: '200' };
/** Stops what a test started, in reverse order, when it ends (passed or not). */
const cleanup = (fn: () => Promise<unknown>) =>
  onTestFinished(async () => {
    await fn().catch(() => undefined);
  });

describe.each([{ via: 'direct' as const }, { via: 'pgbouncer' as const }])(
  'scale-out, runtime role $via',
  ({ via }) => {
    it(
      'survives SIGKILLs of every role and a PostgreSQL restart; the ledger balances',
      async () => {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-scale-out-'));
        cleanup(() => rm(dataDir, { recursive: true, force: true }));
        const pgPort = await freePort();
        let server: EmbeddedPostgres = await startEmbeddedPostgres({
          dataDir,
          port: pgPort,
          logger: testLogger,
          settings,
        });
        cleanup(() => server.stop());
        // The schema owner: through PgBouncer, an owner without superuser, as managed
        // PostgreSQL services give (CREATEROLE, CREATEDB); direct, the embedded superuser, as
        // in the other fault tests (SCALE_OUT_OWNER=non-superuser makes both non-superuser).
        const schemaOwnerUrl =
          via === 'pgbouncer' || process.env.SCALE_OUT_OWNER === 'non-superuser'
            ? await makeNonSuperuserOwner(server.ownerUrl, 'switchyard')
            : server.ownerUrl;
        await migrate(schemaOwnerUrl, { logger: testLogger });
        await ensureAppRole(schemaOwnerUrl, {
          role: 'switchyard_app',
          password: server.appPassword,
          logger: testLogger,
        });
        const appUrl = deriveAppUrl(schemaOwnerUrl, 'switchyard_app', server.appPassword);
        const owner = new pg.Pool({ connectionString: server.ownerUrl, max: 2 });
        owner.on('error', () => undefined);
        cleanup(() => owner.end());
        const app = new pg.Pool({ connectionString: appUrl, max: 2 });
        app.on('error', () => undefined);
        cleanup(() => app.end());

        let runtimeUrl = appUrl;
        const pooler: Record<string, string> = {};
        if (via === 'pgbouncer') {
          const bouncer = await startPgBouncer({
            pgPort,
            database: 'switchyard',
            user: 'switchyard_app',
            password: server.appPassword,
            poolSize: 20,
          });
          cleanup(() => bouncer.stop());
          const u = new URL(appUrl);
          u.port = String(bouncer.port);
          // PgBouncer listens on 127.0.0.1, not in the embedded server's socket directory.
          u.searchParams.delete('host');
          runtimeUrl = u.toString();
          // PgBouncer 1.18 cannot keep named statements across transactions (docs/scaling.md).
          pooler.DATABASE_PREPARED_STATEMENTS = 'false';
        }

        const common = {
          DATABASE_URL: schemaOwnerUrl,
          DATABASE_APP_PASSWORD: server.appPassword,
          DATABASE_POOL_MAX: '6',
          DATABASE_CONNECT_RETRY_MS: '120000',
          SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
          WORKER_LEASE_MS: '3000',
          WORKER_HEARTBEAT_MS: '1000',
          WORKER_POLL_MS: '250',
          WORKER_CONCURRENCY: '8',
          SCHEDULER_POLL_MS: '200',
          SHUTDOWN_DEADLINE_MS: '2000',
          RATE_LIMIT_PROCESS_SHARE: '2',
          RATE_LIMIT_WEBHOOK_TRIGGER_PER_MINUTE: String(TRIGGER_PER_MINUTE),
          LOG_LEVEL: process.env.SCALE_OUT_LOG_LEVEL ?? 'error',
        };
        // Through PgBouncer: the runtime pool of api and worker; the worker's LISTEN and the
        // scheduler (its retention run holds a session advisory lock) connect directly.
        const pooledEnv = {
          ...common,
          ...pooler,
          DATABASE_APP_URL: runtimeUrl,
          DATABASE_LISTEN_URL: appUrl,
        };
        const directEnv = { ...common, DATABASE_APP_URL: appUrl };
        const apiPorts = [await freePort(), await freePort()];
        const procs: RoleProcess[] = [
          ...apiPorts.map((p) => spawnRole('api', pooledEnv, p)),
          ...[0, 1, 2].map(() => spawnRole('worker', pooledEnv)),
          ...[0, 1].map(() => spawnRole('scheduler', directEnv)),
        ];
        cleanup(() => Promise.all(procs.map((p) => p.kill('SIGKILL'))));
        const lb = await startLoadBalancer(apiPorts);
        cleanup(() => lb.close());
        for (const p of apiPorts) await waitForStatus(`http://127.0.0.1:${p}/readyz`, 200, 60_000);

        // Set-up through the load balancer, as a user would.
        const { tenantId, apiToken } = await makeTenant(app);
        const hooks = await makeHookWorkflow(lb.url, apiToken, 6);
        const [main, burst, ...spread] = hooks.triggers as [
          (typeof hooks.triggers)[0],
          (typeof hooks.triggers)[0],
          ...typeof hooks.triggers,
        ];
        const cronId = await makeCronTrigger(app, tenantId, hooks.workflowId as WorkflowId, {
          expression: '* * * * * *',
        });
        const accepted = new Map<string, string>(); // webhook-id → run id

        // Figures: a clean burst over four triggers, before any fault.
        const n0 = 100;
        const t0 = performance.now();
        const first = await pooled(
          Array.from(
            { length: n0 },
            (_, i) => () =>
              deliver(
                lb.url,
                spread[i % spread.length]!,
                `fig-${i}`,
                { n: i },
                Date.now() + 30_000,
              ),
          ),
          16,
        );
        const ingressS = (performance.now() - t0) / 1_000;
        first.forEach((r, i) => r.runId && accepted.set(`fig-${i}`, r.runId));
        expect(accepted.size).toBe(n0);
        await waitFor(async () => (await unfinished(owner, [...accepted.values()])) === 0, {
          timeoutMs: 60_000,
          intervalMs: 200,
          what: 'the figure runs to finish',
        });
        const e2eS = (performance.now() - t0) / 1_000;
        const latencies = first.map((r) => r.attempts.at(-1)!.ms);

        // Rate limit shared by two APIs: a burst gets the deployment's allowance once.
        const burstStarted = performance.now();
        const burstResults = await pooled(
          Array.from(
            { length: 2 * TRIGGER_PER_MINUTE },
            (_, i) => () => deliverOnce(lb.url, burst, `burst-${i}`, { n: i }),
          ),
          30,
        );
        const burstS = (performance.now() - burstStarted) / 1_000;
        burstResults.forEach((r, i) => r.status === 202 && accepted.set(`burst-${i}`, r.runId!));
        const burstAccepted = burstResults.filter((r) => r.status === 202).length;
        // A bucket of the deployment's per-minute limit, split between the two APIs; one API
        // holding the whole limit would let twice as many through.
        const allowance = TRIGGER_PER_MINUTE;
        const refill = (TRIGGER_PER_MINUTE / 60) * burstS;
        const statuses = burstResults.map((r) => r.status);
        expect(statuses.filter((x) => x !== 202 && x !== 429)).toEqual([]);
        expect(burstAccepted).toBeGreaterThanOrEqual(allowance - 2);
        expect(burstAccepted).toBeLessThanOrEqual(allowance + refill + 4);

        // Chaos: steady deliveries while one process at a time is SIGKILLed and respawned, every
        // role in turn first and then at random, and PostgreSQL restarts half way through.
        const chaosEnd = Date.now() + CHAOS_MS;
        const killed: Record<string, number> = { api: 0, worker: 0, scheduler: 0 };
        const killer = (async () => {
          const order = ['worker', 'api', 'scheduler'] as const;
          for (let k = 0; Date.now() < chaosEnd - KILL_EVERY_MS; k++) {
            await sleep(KILL_EVERY_MS * (0.5 + Math.random()));
            const role = k < order.length ? order[k]! : order[Math.floor(Math.random() * 3)]!;
            const live = procs.filter((p) => p.role === role && isAlive(p));
            const victim = live[Math.floor(Math.random() * live.length)];
            if (!victim) continue;
            await victim.kill('SIGKILL');
            killed[role]! += 1;
            await sleep(300 + Math.random() * 700);
            victim.respawn();
          }
        })();
        const restart = (async () => {
          await sleep(CHAOS_MS / 2);
          await server.stop();
          await sleep(1_000);
          server = await startEmbeddedPostgres({
            dataDir,
            port: pgPort,
            logger: testLogger,
            settings,
          });
        })();
        const beforeChaos = accepted.size;
        const deliveries: Array<Promise<void>> = [];
        for (let i = 0; Date.now() < chaosEnd; i++) {
          const id = `chaos-${i}`;
          deliveries.push(
            deliver(lb.url, main, id, { n: i }, chaosEnd + 60_000).then((r) => {
              if (r.runId) accepted.set(id, r.runId);
              else
                throw new Error(
                  `${id} was never accepted: ${JSON.stringify(r.attempts.slice(-3))}`,
                );
            }),
          );
          await sleep(200);
        }
        await Promise.all([killer, restart, ...deliveries]);
        for (const p of procs) if (!isAlive(p)) p.respawn();
        await waitFor(async () => (await unfinished(owner, [...accepted.values()])) === 0, {
          timeoutMs: 90_000,
          intervalMs: 500,
          what: 'every accepted run to finish',
        });
        await sleep(1_500); // the cron's runs of the last ticks

        // The ledger.
        expect(killed.api).toBeGreaterThan(0);
        expect(killed.worker).toBeGreaterThan(0);
        expect(killed.scheduler).toBeGreaterThan(0);
        const runs = await owner.query<{ id: string; status: string; trigger_id: string }>(
          `select id, status, trigger_id from workflow_runs where trigger_id <> $1`,
          [cronId],
        );
        const runIds = [...accepted.values()];
        expect(new Set(runIds).size).toBe(accepted.size); // one run per delivery
        expect(runs.rows.map((r) => r.id).sort()).toEqual([...runIds].sort()); // and no other
        const failedRuns = runs.rows.filter((r) => r.status !== 'succeeded').map((r) => r.id);
        const why = await owner.query(
          `select run_id, step_id, attempt, status, error_code, error_message from step_runs where run_id = any($1::uuid[])`,
          [failedRuns],
        );
        expect(why.rows).toEqual([]);
        const steps = await owner.query<{ run_id: string; step_id: string; ok: number }>(
          `select r.id run_id, s.id step_id,
                (select count(*) from step_runs x
                  where x.run_id = r.id and x.step_id = s.id and x.status = 'succeeded')::int ok
           from workflow_runs r cross join (values ('double'), ('inc')) s(id)
          where r.trigger_id <> $1`,
          [cronId],
        );
        expect(steps.rows.filter((r) => r.ok !== 1)).toEqual([]); // no step lost or doubled
        const cron = await owner.query<{ scheduled_at: string; missed: number; status: string }>(
          `select input->>'scheduledAt' scheduled_at, (input->>'missedTimes')::int missed, status
           from workflow_runs where trigger_id = $1 order by 1`,
          [cronId],
        );
        const ticks = cron.rows.map((r) => Date.parse(r.scheduled_at));
        expect(new Set(ticks).size).toBe(ticks.length); // never twice for one tick
        const span = (ticks.at(-1)! - ticks[0]!) / 1_000 + 1;
        const missed = cron.rows.slice(1).reduce((s, r) => s + r.missed, 0);
        expect(ticks.length + missed).toBe(span); // every tick fired once or counted as missed
        expect(ticks.length).toBeGreaterThan(CHAOS_MS / 2_000);
        expect(procs.flatMap((p) => p.unexpectedExits)).toEqual([]);

        console.log(
          `[scale-out ${via}] figures: ${n0} deliveries through the load balancer in ${ingressS.toFixed(2)} s ` +
            `(${(n0 / ingressS).toFixed(0)}/s, p50 ${percentile(latencies, 50).toFixed(1)} ms, ` +
            `p95 ${percentile(latencies, 95).toFixed(1)} ms), all ${n0} two-step runs finished ` +
            `${e2eS.toFixed(2)} s after the first delivery (${(n0 / e2eS).toFixed(0)} runs/s); ` +
            `burst: ${burstAccepted} of ${burstResults.length} accepted in ${burstS.toFixed(2)} s (allowance ${allowance}); ` +
            `chaos ${CHAOS_MS / 1000} s: ${accepted.size - beforeChaos} deliveries, kills ${JSON.stringify(killed)}, ` +
            `${ticks.length} cron runs + ${missed} missed ticks; served per API ${JSON.stringify(lb.served)}`,
        );
      },
      240_000 + CHAOS_MS * 2,
    );
  },
);

async function unfinished(owner: pg.Pool, runIds: string[]): Promise<number> {
  const r = await owner
    .query<{ n: number }>(
      `select count(*)::int n from workflow_runs
        where id = any($1::uuid[]) and status not in ('succeeded', 'failed', 'dead', 'canceled')`,
      [runIds],
    )
    .catch(() => undefined);
  return r?.rows[0]?.n ?? Number.POSITIVE_INFINITY;
}
