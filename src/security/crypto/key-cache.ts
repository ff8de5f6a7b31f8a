/**
 * Unwrapped data keys, kept briefly in memory so that each decrypt does not call the KMS.
 * Bounded (least recently used go first) and time-limited; evicted keys are zero-filled.
 */
export type Clock = { now(): number };

export type KeyCache = {
  get(tenantId: string, keyId: string): Buffer | undefined;
  set(tenantId: string, keyId: string, key: Buffer): void;
  forgetTenant(tenantId: string): void;
  clear(): void;
  size(): number;
};

export function createKeyCache(opts: {
  ttlMs: number;
  maxEntries: number;
  clock?: Clock;
}): KeyCache {
  const clock = opts.clock ?? { now: () => Date.now() };
  const entries = new Map<string, { key: Buffer; expiresAt: number }>();
  const drop = (k: string) => {
    entries.get(k)?.key.fill(0);
    entries.delete(k);
  };
  return {
    get(tenantId, keyId) {
      const k = `${tenantId}/${keyId}`;
      const e = entries.get(k);
      if (!e) return undefined;
      if (e.expiresAt <= clock.now()) {
        drop(k);
        return undefined;
      }
      entries.delete(k);
      entries.set(k, e);
      // A copy: eviction zero-fills the cached buffer, possibly while a caller still uses it.
      return Buffer.from(e.key);
    },
    set(tenantId, keyId, key) {
      if (opts.ttlMs <= 0 || opts.maxEntries <= 0) return;
      const k = `${tenantId}/${keyId}`;
      if (entries.has(k)) drop(k);
      entries.set(k, { key: Buffer.from(key), expiresAt: clock.now() + opts.ttlMs });
      while (entries.size > opts.maxEntries) drop(entries.keys().next().value!);
    },
    forgetTenant(tenantId) {
      for (const k of [...entries.keys()]) if (k.startsWith(`${tenantId}/`)) drop(k);
    },
    clear() {
      for (const k of [...entries.keys()]) drop(k);
    },
    size: () => entries.size,
  };
}
