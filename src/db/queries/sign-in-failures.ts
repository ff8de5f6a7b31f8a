import type { Queryable } from '../pool.ts';

/** Seconds a key stays locked once over the limit, per key. */
export async function selectLockedUntil(
  db: Queryable,
  p: { keys: string[] },
): Promise<Date | null> {
  const res = await db.query<{ until: Date | null }>(
    `select max(locked_until) as until from sign_in_failures where key = any($1) and locked_until > now()`,
    [p.keys],
  );
  return res.rows[0]?.until ?? null;
}

/**
 * Counts one failure for each key in a window of `windowMs`; a key reaching `limit` is locked
 * for `lockMs`. One statement, so concurrent failures cannot undercount.
 */
export async function recordFailures(
  db: Queryable,
  p: { keys: string[]; windowMs: number; limit: number; lockMs: number },
): Promise<void> {
  await db.query(
    `insert into sign_in_failures as f (key, window_started_at, failures)
     select k, now(), 1 from unnest($1::text[]) as k
     on conflict (key) do update set
       window_started_at = case when f.window_started_at < now() - make_interval(secs => $2 / 1000.0)
                                then now() else f.window_started_at end,
       failures = case when f.window_started_at < now() - make_interval(secs => $2 / 1000.0)
                       then 1 else f.failures + 1 end,
       locked_until = case when f.window_started_at >= now() - make_interval(secs => $2 / 1000.0)
                             and f.failures + 1 >= $3
                           then now() + make_interval(secs => $4 / 1000.0) else f.locked_until end`,
    [p.keys, p.windowMs, p.limit, p.lockMs],
  );
}

export async function clearFailures(db: Queryable, p: { key: string }): Promise<void> {
  await db.query('delete from sign_in_failures where key = $1', [p.key]);
}
