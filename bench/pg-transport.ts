/**
 * PostgreSQL transport benchmark (not a test): `npm run bench:pg-transport`.
 * Starts its own embedded PostgreSQL (fsync on) in a temporary directory and sends the same
 * prepared statement from 10 connections, as fast as they answer, over the server's Unix
 * socket and over 127.0.0.1, alternating, BENCH_ROUNDS times for BENCH_SECONDS each. Reports
 * round trips per second, this process's CPU per round trip and the whole machine's (Node and
 * PostgreSQL, from /proc/stat). Writes the "PostgreSQL transport" section of bench/RESULTS.md.
 * The server is stopped by its own handle.
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { createLogger } from '../src/observability/logger.ts';
import { pct, writeResultsSection } from './kit.ts';
import { freePort } from '../test/support/free-port.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 10;

type Sample = { perS: number; nodeUs: number; nodeSysUs: number; machineUs: number };

/** CPU time the whole machine spent busy so far, in µs (user, nice, system, irq, softirq). */
function machineBusyUs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
  const ticks = [0, 1, 2, 5, 6].reduce((a, i) => a + Number(f[i]), 0);
  return (ticks * 1e6) / 100; // USER_HZ
}

async function measure(url: string): Promise<Sample> {
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  const query = { name: 'q', text: 'select $1::int as x, now() as at', values: [1] };
  for (const c of clients) await c.query(query);
  let n = 0;
  const end = Date.now() + SECONDS * 1000;
  const cpu0 = process.cpuUsage();
  const busy0 = machineBusyUs();
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c) => {
      while (Date.now() < end) {
        await c.query(query);
        n++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const sample = {
    perS: n / seconds,
    nodeUs: (cpu.user + cpu.system) / n,
    nodeSysUs: cpu.system / n,
    machineUs: (machineBusyUs() - busy0) / n,
  };
  await Promise.all(clients.map((c) => c.end()));
  return sample;
}

const median = (xs: number[]) =>
  pct(
    [...xs].sort((a, b) => a - b),
    50,
  );

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sy-bench-transport-'));
  await chmod(dir, 0o755); // reachable by the postgres OS user: the cluster stays in here
  const server = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'data'),
    port: await freePort(),
    logger: createLogger({ level: 'warn' }),
  });
  try {
    const socketUrl = server.ownerUrl;
    if (!new URL(socketUrl).searchParams.has('host'))
      throw new Error(`no Unix socket for ${dir}: the path is too long for one`);
    const tcp = new URL(socketUrl);
    tcp.searchParams.delete('host');
    const runs: Record<'unix' | 'tcp', Sample[]> = { unix: [], tcp: [] };
    for (let i = 0; i < ROUNDS; i++) {
      runs.tcp.push(await measure(tcp.toString()));
      runs.unix.push(await measure(socketUrl));
    }
    const row = (label: string, xs: Sample[]) =>
      `| ${label} | ${xs.map((x) => Math.round(x.perS)).join(' / ')} | ${median(xs.map((x) => x.nodeUs)).toFixed(1)} (${median(xs.map((x) => x.nodeSysUs)).toFixed(1)} in the kernel) | ${median(xs.map((x) => x.machineUs)).toFixed(1)} |`;
    const body = [
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, Node ${process.version}, ${new Date().toISOString().slice(0, 16)} UTC. \`npm run bench:pg-transport\`: the embedded PostgreSQL (fsync on), ${CONNECTIONS} connections sending one prepared statement (\`select $1::int, now()\`) as fast as it is answered, ${ROUNDS} rounds of ${SECONDS} s per transport, alternating (127.0.0.1 first). CPU per round trip: medians of the rounds.`,
      '',
      '| transport | round trips/s (each round) | Node CPU µs per round trip | machine CPU µs per round trip (Node + PostgreSQL) |',
      '|---|---|---|---|',
      row('TCP, 127.0.0.1 (the baseline)', runs.tcp),
      row('Unix socket in the cluster directory', runs.unix),
    ].join('\n');
    console.log(body);
    if (!process.argv.includes('--no-write'))
      await writeResultsSection('PostgreSQL transport', body);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
