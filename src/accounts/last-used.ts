import type pg from 'pg';
import { touchApiTokensLastUsed } from '../db/queries/api-tokens.ts';
import { withTenant } from '../db/tenant.ts';
import type { ApiTokenId, TenantId } from '../model/ids.ts';
import type { Logger } from '../observability/logger.ts';

/**
 * Collects API-token uses in memory and writes lastUsedAt in one statement per tenant every
 * `flushEveryMs`, instead of a write per request. A crash loses at most one interval of
 * lastUsedAt precision; every use is also in the access log.
 */
export function createLastUsedTracker(pool: pg.Pool, logger: Logger, flushEveryMs = 10_000) {
  let pending = new Map<TenantId, Map<ApiTokenId, Date>>();
  const flush = async (): Promise<void> => {
    const batch = pending;
    pending = new Map();
    for (const [tenantId, uses] of batch) {
      try {
        await withTenant(pool, tenantId, (db) =>
          touchApiTokensLastUsed(db, { ids: [...uses.keys()], usedAt: [...uses.values()] }),
        );
      } catch (err) {
        logger.warn({ err, tenantId }, 'could not record API token use');
      }
    }
  };
  const timer = setInterval(() => void flush(), flushEveryMs);
  timer.unref();
  return {
    record(tenantId: TenantId, tokenId: ApiTokenId, at: Date): void {
      let uses = pending.get(tenantId);
      if (!uses) pending.set(tenantId, (uses = new Map<ApiTokenId, Date>()));
      uses.set(tokenId, at);
    },
    flush,
    async stop(): Promise<void> {
      clearInterval(timer);
      await flush();
    },
  };
}

export type LastUsedTracker = ReturnType<typeof createLastUsedTracker>;
