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

/**
 * Ends the part of a section its bench writes: what follows it in the section (notes, a
 * history of runs written by hand) is kept when the bench writes the section again.
 */
export const KEPT_BELOW = '<!-- written by the bench down to here; what follows is kept -->';

/**
 * Replaces the `## <title>` section of bench/RESULTS.md with `body` (or appends it), down to
 * its KEPT_BELOW marker when it has one (`body` then ends with the marker).
 */
export async function writeResultsSection(title: string, body: string): Promise<void> {
  const file = path.join(here, 'RESULTS.md');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = '# Benchmark results\n';
  }
  const section = `## ${title}\n\n${body.trimEnd()}\n`;
  // The section's own heading, at the start of a line (not a "### <title>" elsewhere).
  const start = text.search(
    new RegExp(`^## ${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`, 'm'),
  );
  if (start === -1) {
    await writeFile(file, `${text.trimEnd()}\n\n${section}`);
    return;
  }
  const next = text.indexOf('\n## ', start + 1);
  const end = next === -1 ? text.length : next + 1;
  const marker = text.indexOf(KEPT_BELOW, start);
  const kept =
    marker !== -1 && marker < end && section.includes(KEPT_BELOW)
      ? text.slice(marker + KEPT_BELOW.length + 1, end)
      : next === -1
        ? ''
        : '\n';
  await writeFile(file, `${text.slice(0, start)}${section}${kept}${text.slice(end)}`);
}
