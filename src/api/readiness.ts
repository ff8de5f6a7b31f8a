import type pg from 'pg';
import { migrationStatus, type Migration } from '../db/migrate.ts';
import type { ReadinessCheck } from './routes/health.ts';

export function databaseCheck(pool: pg.Pool): ReadinessCheck {
  return {
    name: 'database',
    check: async () => {
      await pool.query('select 1');
      return { ok: true };
    },
  };
}

export function migrationsCheck(pool: pg.Pool, migrations: Migration[]): ReadinessCheck {
  return {
    name: 'migrations',
    check: async () => {
      const s = await migrationStatus(pool, migrations);
      return s.pending.length === 0
        ? { ok: true, detail: `${s.applied} applied` }
        : { ok: false, detail: `pending: ${s.pending.join(', ')}` };
    },
  };
}

/** Not ready while the run queue is past QUEUE_MAX_DEPTH (new runs are refused meanwhile). */
export function queueOverloadCheck(
  status: () => Promise<{ overloaded: boolean; depth: number; maxDepth: number }>,
): ReadinessCheck {
  return {
    name: 'queue',
    check: async () => {
      const s = await status();
      return s.overloaded
        ? { ok: false, detail: `overloaded: ${s.depth} queued (limit ${s.maxDepth})` }
        : { ok: true, detail: `${s.depth} queued (limit ${s.maxDepth})` };
    },
  };
}
