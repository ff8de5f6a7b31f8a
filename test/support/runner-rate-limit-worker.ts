/**
 * A separate worker process for the shared rate-limit test: takes `tries` slots of one key
 * against the database and prints what it got as one JSON line.
 * Usage: node runner-rate-limit-worker.ts <appUrl> <tenantId> <key> <tries> <requests> <perSeconds>
 */
import pg from 'pg';
import type { TenantId } from '../../src/model/ids.ts';
import { dbRateLimiter } from './runner-db.ts';

const [appUrl, tenantId, key, tries, requests, perSeconds] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: appUrl, max: 4 });
const limiter = dbRateLimiter(pool);
const results = await Promise.all(
  Array.from({ length: Number(tries) }, () =>
    limiter.acquire({
      tenantId: tenantId as TenantId,
      key: key!,
      requests: Number(requests),
      perSeconds: Number(perSeconds),
    }),
  ),
);
await pool.end();
process.stdout.write(
  `${JSON.stringify({
    allowed: results.filter((r) => r.allowed).length,
    waits: results.flatMap((r) => (r.allowed ? [] : [r.retryAfterMs])),
  })}\n`,
);
