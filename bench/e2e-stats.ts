/**
 * What bench/e2e.ts reads beside the load: PostgreSQL's counters (commits, row writes per
 * table, pg_stat_statements) and the CPU time of the processes (/proc/<pid>/stat), so that a
 * line reports the cost of a run in the database and the split of the CPU between Node and
 * PostgreSQL.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';

/** Clock ticks per second of /proc/<pid>/stat (CLK_TCK, 100 on Linux). */
const TICKS = 100;

export type DbCounters = {
  commits: number;
  /** n_tup_ins + n_tup_upd + n_tup_del, per table. */
  writes: Record<string, number>;
  /** Write-ahead log written by the whole server (pg_stat_wal): records and bytes. */
  walRecords: number;
  walBytes: number;
};

export async function readDbCounters(owner: pg.Pool): Promise<DbCounters> {
  const db = await owner.query<{ c: string }>(
    `select xact_commit::text as c from pg_stat_database where datname = current_database()`,
  );
  const t = await owner.query<{ relname: string; w: string }>(
    `select relname, (n_tup_ins + n_tup_upd + n_tup_del)::text as w from pg_stat_user_tables`,
  );
  const writes: Record<string, number> = {};
  for (const r of t.rows) {
    // Day partitions count for their table (execution_logs_20261206 → execution_logs).
    const name = r.relname.replace(/_\d{8}$|_default$/, '');
    writes[name] = (writes[name] ?? 0) + Number(r.w);
  }
  const wal = await owner.query<{ records: string; bytes: string }>(
    `select wal_records::text as records, wal_bytes::text as bytes from pg_stat_wal`,
  );
  return {
    commits: Number(db.rows[0]!.c),
    writes,
    walRecords: Number(wal.rows[0]!.records),
    walBytes: Number(wal.rows[0]!.bytes),
  };
}

export function diffCounters(a: DbCounters, b: DbCounters, ownQueries: number) {
  const writes: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.writes)) {
    const d = v - (a.writes[k] ?? 0);
    if (d > 0) writes[k] = d;
  }
  return {
    commits: b.commits - a.commits - ownQueries,
    writes,
    walRecords: b.walRecords - a.walRecords,
    walBytes: b.walBytes - a.walBytes,
  };
}

function statOf(pid: number): { ppid: number; cpu: number; childCpu: number } | null {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may contain spaces), from field 3 on.
    const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return {
      ppid: Number(f[1]),
      cpu: (Number(f[11]) + Number(f[12])) / TICKS,
      childCpu: (Number(f[13]) + Number(f[14])) / TICKS,
    };
  } catch {
    return null;
  }
}

/** Seconds of CPU used so far by the Node processes and by the PostgreSQL server. */
export function readCpu(nodePids: number[], postmasterPid: number): { node: number; pg: number } {
  let node = 0;
  for (const pid of nodePids) node += statOf(pid)?.cpu ?? 0;
  // The postmaster, its live children (backends, walwriter…) and those it has reaped.
  return { node, pg: treeCpu([postmasterPid]) };
}

/** Resident set of a process in MiB (VmRSS) and its peak (VmHWM). */
export function readRss(pid: number): { rss: number; peak: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return { rss: 0, peak: 0 };
  }
}

export function postmasterPidOf(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

export type StatementCost = {
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  /** Shared buffers touched (hit + read) per call: a scan shows here. */
  blocksPerCall: number;
  /** Planning (pg_stat_statements.track_planning): a statement planned again at each call. */
  planMs: number;
  plans: number;
};

/** The statements that took the most time since the last reset (pg_stat_statements). */
export async function topStatements(owner: pg.Pool, limit = 8): Promise<StatementCost[]> {
  try {
    const r = await owner.query<{
      query: string;
      calls: string;
      total: number;
      mean: number;
      blocks: number;
      plan: number;
      plans: string;
    }>(
      `select query, calls::text, total_exec_time as total, mean_exec_time as mean,
              total_plan_time as plan, plans::text,
              (shared_blks_hit + shared_blks_read)::float8 / greatest(calls, 1) as blocks
         from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
        order by total_exec_time desc limit $1`,
      [limit],
    );
    return r.rows.map((x) => ({
      query: x.query.replace(/\s+/g, ' ').slice(0, Number(process.env.BENCH_QUERY_CHARS ?? 140)),
      calls: Number(x.calls),
      totalMs: x.total,
      meanMs: x.mean,
      blocksPerCall: x.blocks,
      planMs: x.plan,
      plans: Number(x.plans),
    }));
  } catch {
    return [];
  }
}

export async function resetStatements(owner: pg.Pool): Promise<void> {
  try {
    await owner.query('select pg_stat_statements_reset()');
  } catch {
    // not loaded: the line reports no statements
  }
}

/**
 * What PostgreSQL's active backends were doing, sampled every `everyMs` (pg_stat_activity):
 * the share of samples per wait event ("CPU" when a backend waited on nothing), and the mean
 * number of active backends. Where a drain that leaves cores idle spends its time.
 */
export function sampleWaitEvents(owner: pg.Pool, everyMs = 20) {
  const counts = new Map<string, number>();
  let samples = 0;
  let active = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const r = await owner.query<{ w: string; n: number }>(
          `select coalesce(wait_event_type || ':' || wait_event, 'CPU') as w, count(*)::int as n
             from pg_stat_activity
            where state = 'active' and backend_type = 'client backend' and pid <> pg_backend_pid()
            group by 1`,
        );
        samples++;
        for (const row of r.rows) {
          counts.set(row.w, (counts.get(row.w) ?? 0) + row.n);
          active += row.n;
        }
      } catch {
        // a sample lost is a sample lost
      }
      await new Promise((res) => setTimeout(res, everyMs));
    }
  })();
  return async (): Promise<{ activeMean: number; events: [string, number][] }> => {
    stopped = true;
    await loop;
    const events = [...counts.entries()]
      .map(([w, n]): [string, number] => [w, active ? n / active : 0])
      .sort((a, b) => b[1] - a[1]);
    return { activeMean: samples ? active / samples : 0, events };
  };
}

/** `roots` and every process below them (children, grandchildren…), from /proc. */
export function processTree(roots: number[]): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = statOf(pid);
    if (s) parentOf.set(pid, s.ppid);
  }
  const tree = new Set(roots.filter((p) => parentOf.has(p)));
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parentOf)
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
  }
  return [...tree];
}

/**
 * CPU seconds used so far by the processes under `roots`, with the children they have reaped
 * (a PostgreSQL backend that exits takes its CPU time with it, to its parent's count).
 */
export function treeCpu(roots: number[]): number {
  return processTree(roots).reduce((sum, pid) => {
    const s = statOf(pid);
    return sum + (s ? s.cpu + s.childCpu : 0);
  }, 0);
}

/**
 * Runs `line` while the processes under `others` are stopped (SIGSTOP … SIGCONT) when `pause`;
 * returns its result and the CPU seconds those processes used meanwhile.
 */
export async function alone<T>(
  others: number[],
  line: () => Promise<T>,
  pause = true,
): Promise<[T, number]> {
  const tree = processTree(others);
  const cpu0 = treeCpu(others);
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of tree)
      try {
        process.kill(pid, sig);
      } catch {
        // gone meanwhile
      }
  };
  if (pause) signal('SIGSTOP');
  try {
    const result = await line();
    return [result, treeCpu(others) - cpu0];
  } finally {
    if (pause) signal('SIGCONT');
  }
}

/**
 * Foreign-key checks since the last reset: PostgreSQL runs each as `SELECT 1 FROM ONLY <table>
 * x WHERE … FOR KEY SHARE OF x`, which pg_stat_statements counts (track = all).
 */
export async function foreignKeyChecks(owner: pg.Pool): Promise<number> {
  try {
    const r = await owner.query<{ n: string }>(
      `select coalesce(sum(calls), 0)::text as n from pg_stat_statements
        where query like 'SELECT % FROM ONLY % x WHERE % FOR KEY SHARE OF x'`,
    );
    return Number(r.rows[0]!.n);
  } catch {
    return 0;
  }
}

/** The server process's event loop and collections, from its own /metrics (prom-client). */
export type NodeLoop = {
  /** Event-loop delay since the previous read (prom-client resets it on each collect). */
  lagP99Ms: number;
  lagMaxMs: number;
  /** Cumulative collections, by kind: count and seconds. */
  minor: { count: number; seconds: number };
  major: { count: number; seconds: number };
};

/** Reads (and so resets) the event-loop delay of the process serving `url`; null if absent. */
export async function readNodeLoop(url: string): Promise<NodeLoop | null> {
  const res = await fetch(`${url}/metrics`).catch(() => null);
  if (!res?.ok) return null;
  const text = await res.text();
  const value = (name: string): number | null => {
    const m = new RegExp(`^${name.replace(/[{}"=]/g, '\\$&')} ([0-9.e+-]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  const p = 'switchyard_process_nodejs_';
  const gc = (kind: string) => ({
    count: value(`${p}gc_duration_seconds_count{kind="${kind}"}`) ?? 0,
    seconds: value(`${p}gc_duration_seconds_sum{kind="${kind}"}`) ?? 0,
  });
  const p99 = value(`${p}eventloop_lag_p99_seconds`);
  const max = value(`${p}eventloop_lag_max_seconds`);
  if (p99 === null || max === null) return null;
  return { lagP99Ms: p99 * 1000, lagMaxMs: max * 1000, minor: gc('minor'), major: gc('major') };
}
