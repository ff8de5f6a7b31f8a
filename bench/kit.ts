/**
 * What the benchmarks share: percentiles, polling, progress lines, a no-op action, and the
 * writer of their section of bench/RESULTS.md (each bench owns one `## <title>` section and
 * replaces it whole).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { withTenant } from '../src/db/tenant.ts';
import type { TenantId } from '../src/model/ids.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The p-th percentile of sorted values (nearest rank); NaN when there are none. */
export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function progress(phase: string): void {
  process.stderr.write(`bench: ${phase} at ${new Date().toISOString()}\n`);
}

export async function waitUntil(
  fn: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await fn())) {
    if (performance.now() > deadline) throw new Error('bench: timed out');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A JavaScript action of an app `appKey` that does nothing and is never retried. */
export async function makeNoopAction(
  pool: pg.Pool,
  tenantId: TenantId,
  appKey = 'bench',
): Promise<string> {
  return withTenant(pool, tenantId, async (db) => {
    const app = await db.query<{ id: string }>(
      `insert into apps (tenant_id, key, name) values ($1, $2, 'Bench') returning id`,
      [tenantId, appKey],
    );
    const action = await db.query<{ id: string }>(
      `insert into actions (tenant_id, app_id, key, name, kind, implementation, retry_strategy, max_attempts)
       values ($1, $2, 'noop', 'No-op', 'javascript', '{"code": ""}', 'none', 1) returning id`,
      [tenantId, app.rows[0]!.id],
    );
    return action.rows[0]!.id;
  });
}

/** Replaces the `## <title>` section of bench/RESULTS.md with `body` (or appends it). */
export async function writeResultsSection(title: string, body: string): Promise<void> {
  const file = path.join(here, 'RESULTS.md');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = '# Benchmark results\n';
  }
  const section = `## ${title}\n\n${body.trimEnd()}\n`;
  const re = new RegExp(
    `## ${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n[\\s\\S]*?(?=\\n## |$)`,
  );
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}`;
  await writeFile(file, text);
}
