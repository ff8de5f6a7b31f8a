/**
 * OpenAPI import benchmark: GitHub's REST description (@octokit/openapi, 13 MB, ~1,200
 * operations, circular $refs) read and planned the way the API does it (in a worker thread,
 * catalog/openapi/run.ts), then written in one transaction into a fresh tenant, then imported
 * again (every action unchanged). Reports wall time, the peak resident memory of the process
 * (worker included) above its start, and the longest stall of this process's event loop — the
 * API's loop during an import. Target: under 10 s and 300 MB.
 *
 * `npm run bench:openapi` — starts its own embedded PostgreSQL in a temporary directory,
 * writes the "OpenAPI import" section of bench/RESULTS.md and stops everything it started.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTenantWithOwner } from '../src/accounts/create-tenant.ts';
import { applyImport } from '../src/catalog/openapi/import.ts';
import { planOpenApiImport } from '../src/catalog/openapi/run.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { deriveAppUrl, ensureAppRole } from '../src/db/roles.ts';
import { withTenant } from '../src/db/tenant.ts';
import { createLogger } from '../src/observability/logger.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'silent', name: 'bench' });
const require = createRequire(import.meta.url);

type Probe = { stop(): { peakRssMb: number; maxLagMs: number } };

/** Samples RSS and event-loop lag every 10 ms until stopped. */
function probe(baselineRss: number): Probe {
  let peak = process.memoryUsage().rss;
  let maxLag = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxLag = Math.max(maxLag, now - last - 10);
    last = now;
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return { peakRssMb: (peak - baselineRss) / 2 ** 20, maxLagMs: maxLag };
    },
  };
}

async function main(): Promise<void> {
  const specPath = require.resolve('@octokit/openapi/generated/api.github.com.json');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-bench-openapi-'));
  const server = await startEmbeddedPostgres({
    dataDir,
    port: 20_000 + Math.floor(Math.random() * 20_000),
    logger,
  });
  try {
    await migrate(server.ownerUrl, { logger });
    await ensureAppRole(server.ownerUrl, {
      role: 'switchyard_app',
      password: server.appPassword,
      logger,
    });
    const pool = createPool({
      url: deriveAppUrl(server.ownerUrl, 'switchyard_app', server.appPassword),
      max: 4,
      connectTimeoutMs: 5_000,
      applicationName: 'bench-openapi',
      logger,
    });
    const { tenantId } = await createTenantWithOwner(pool, {
      name: 'Bench',
      ownerEmail: 'bench@example.test',
      actor: { kind: 'system', id: 'bench' },
    });
    const text = await readFile(specPath, 'utf8');
    const rows: string[][] = [];
    for (const run of ['first import', 're-import (all unchanged)']) {
      global.gc?.();
      const baseline = process.memoryUsage().rss;
      const p = probe(baseline);
      const t0 = performance.now();
      const plan = await planOpenApiImport(text, { appKey: 'github-rest' });
      const t1 = performance.now();
      const result = await withTenant(pool, tenantId, (db) =>
        applyImport(db, tenantId, plan, { dryRun: false, now: new Date() }),
      );
      const t2 = performance.now();
      const m = p.stop();
      rows.push([
        run,
        `${((t2 - t0) / 1000).toFixed(2)} s`,
        `${((t1 - t0) / 1000).toFixed(2)} s read + plan (worker), ${((t2 - t1) / 1000).toFixed(2)} s write`,
        `${m.peakRssMb.toFixed(0)} MB`,
        `${m.maxLagMs.toFixed(0)} ms`,
        `${plan.operations.length} operations: ${result.created.length} created, ${result.updated.length} updated, ${result.unchanged.length} unchanged`,
      ]);
    }
    const size = await withTenant(pool, tenantId, async (db) => {
      const r = await db.query<{ bytes: string }>(
        `select sum(pg_column_size(input_schema) + pg_column_size(output_schema) + pg_column_size(implementation))::text as bytes from actions`,
      );
      return Number(r.rows[0]!.bytes);
    });
    await pool.end();
    const table = [
      '| run | wall time | of which | peak RSS above start | longest event-loop stall | result |',
      '|---|---:|---|---:|---:|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
    const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, embedded PostgreSQL; load average at the end ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')} (other processes share the machine)`;
    const notes = `Document: \`@octokit/openapi\` api.github.com.json, ${(text.length / 2 ** 20).toFixed(1)} MB. Stored schemas and implementations: ${(size / 2 ** 20).toFixed(1)} MB (jsonb, compressed). Target: under 10 s and 300 MB. The stall is what the import costs other requests: a first version that sent the plan back from the worker as objects and compared actions in JavaScript stalled the loop 520–690 ms; the plan now crosses as one JSON text that PostgreSQL parses and compares (jsonb equality).`;
    process.stdout.write(`\n${table}\n\n${notes}\n\nMachine: ${machine}\n`);
    await writeResults(`${table}\n\n${notes}`, machine);
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function writeResults(body: string, machine: string): Promise<void> {
  const file = path.join(here, 'RESULTS.md');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = '# Benchmark results\n';
  }
  const section = `## OpenAPI import\n\nRecorded ${new Date().toISOString()} by \`npm run bench:openapi\`.\n\n${body}\n\nMachine: ${machine}\n`;
  const re = /## OpenAPI import\n[\s\S]*?(?=\n## |$)/;
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}`;
  await writeFile(file, text);
}

await main();
