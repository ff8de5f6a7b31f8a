/**
 * Engine test helpers: apps, actions, published workflows, cron triggers, a fake clock and a
 * step executor scripted by the test.
 */
import type pg from 'pg';
import { withTenant } from '../../src/db/tenant.ts';
import type {
  ActionId,
  TenantId,
  TriggerId,
  WorkflowId,
  WorkflowVersionId,
} from '../../src/model/ids.ts';
import type { StepExecutor, StepRequest, StepResult } from '../../src/model/step.ts';
import { defaultEngineConfig, type EngineConfig } from '../../src/config/engine.ts';
import type { Clock, EngineDeps } from '../../src/engine/deps.ts';
import { testLogger } from './db.ts';

export type ActionOptions = {
  retryStrategy?: 'none' | 'fixed' | 'exponential';
  maxAttempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
};

export async function makeAction(
  pool: pg.Pool,
  tenantId: TenantId,
  o: ActionOptions = {},
): Promise<ActionId> {
  return withTenant(pool, tenantId, async (db) => {
    const app = await db.query<{ id: string }>(
      `insert into apps (tenant_id, key, name) values ($1, 'app-' || substr(md5(random()::text), 1, 10), 'Test app')
       returning id`,
      [tenantId],
    );
    const res = await db.query<{ id: ActionId }>(
      `insert into actions (tenant_id, app_id, key, name, kind, implementation, retry_strategy,
                            max_attempts, initial_delay_ms, max_delay_ms, timeout_ms)
       values ($1, $2, 'act', 'Test action', 'javascript', '{"code": ""}', $3, $4, $5, $6, $7)
       returning id`,
      [
        tenantId,
        app.rows[0]!.id,
        o.retryStrategy ?? 'none',
        o.maxAttempts ?? 1,
        o.initialDelayMs ?? 0,
        o.maxDelayMs ?? Math.max(o.initialDelayMs ?? 0, 60_000),
        o.timeoutMs ?? 30_000,
      ],
    );
    return res.rows[0]!.id;
  });
}

export type StepSpec = {
  id: string;
  actionId: ActionId;
  input?: unknown;
  if?: string;
  onError?: 'fail' | 'continue';
};

/** A workflow with one published version made of `steps`. */
export async function makeWorkflow(
  pool: pg.Pool,
  tenantId: TenantId,
  steps: StepSpec[],
): Promise<{ workflowId: WorkflowId; versionId: WorkflowVersionId }> {
  return withTenant(pool, tenantId, async (db) => {
    const wf = await db.query<{ id: WorkflowId }>(
      `insert into workflows (tenant_id, name) values ($1, 'Test workflow') returning id`,
      [tenantId],
    );
    const workflowId = wf.rows[0]!.id;
    const definition = {
      steps: steps.map((s) => ({
        id: s.id,
        actionId: s.actionId,
        input: s.input ?? {},
        if: s.if ?? null,
        onError: s.onError ?? 'fail',
      })),
    };
    const v = await db.query<{ id: WorkflowVersionId }>(
      `insert into workflow_versions (tenant_id, workflow_id, version, definition)
       values ($1, $2, 1, $3) returning id`,
      [tenantId, workflowId, JSON.stringify(definition)],
    );
    const versionId = v.rows[0]!.id;
    await db.query(
      `update workflows set current_version_id = $3 where tenant_id = $1 and id = $2`,
      [tenantId, workflowId, versionId],
    );
    return { workflowId, versionId };
  });
}

export async function makeCronTrigger(
  pool: pg.Pool,
  tenantId: TenantId,
  workflowId: WorkflowId,
  p: { expression: string; timezone?: string; nextFireAt?: Date | null },
): Promise<TriggerId> {
  return withTenant(pool, tenantId, async (db) => {
    const res = await db.query<{ id: TriggerId }>(
      `insert into triggers (tenant_id, workflow_id, kind, config, cron_next_fire_at)
       values ($1, $2, 'cron', $3, $4) returning id`,
      [
        tenantId,
        workflowId,
        JSON.stringify({ expression: p.expression, timezone: p.timezone ?? 'UTC' }),
        p.nextFireAt ?? null,
      ],
    );
    return res.rows[0]!.id;
  });
}

export type FakeClock = Clock & { advance(ms: number): void; set(d: Date): void };

export function fakeClock(start = new Date('2030-01-01T00:00:00.000Z')): FakeClock {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advance: (ms) => {
      t += ms;
    },
    set: (d) => {
      t = d.getTime();
    },
  };
}

/** A StepExecutor whose behaviour the test writes; it records every request it got. */
export function scriptedExecutor(
  fn: (req: StepRequest, signal: AbortSignal) => Promise<StepResult> | StepResult,
): StepExecutor & { calls: StepRequest[] } {
  const calls: StepRequest[] = [];
  return {
    calls,
    async execute(req, signal) {
      calls.push(req);
      return fn(req, signal);
    },
  };
}

export const ok = (output: unknown = { ok: true }): StepResult => ({
  status: 'succeeded',
  input: {},
  output,
});

export function engineDeps(
  pool: pg.Pool,
  over: { clock?: Clock; random?: () => number; config?: Partial<EngineConfig> } = {},
): EngineDeps {
  return {
    pool,
    clock: over.clock ?? { now: () => new Date() },
    random: over.random ?? (() => 0),
    logger: testLogger,
    config: defaultEngineConfig({
      pollMs: 50,
      heartbeatMs: 1_000,
      queueDepthRefreshMs: 0,
      workerConcurrency: 8,
      ...over.config,
    }),
  };
}

/** Polls `fn` until it returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'condition'}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 25));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
