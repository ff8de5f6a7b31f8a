import type pg from 'pg';
import type { Queryable } from '../db/pool.ts';
import { insertAction } from '../db/queries/actions.ts';
import { insertApp, lockBuiltinAppsOf, selectAppKeys } from '../db/queries/apps.ts';
import { selectTenantIdsPage } from '../db/queries/tenants.ts';
import { withSystem, withTenant } from '../db/tenant.ts';
import { builtinApps, type BuiltinApp } from '../model/builtin-apps.ts';
import type { TenantId } from '../model/ids.ts';

/** Gives a new tenant its copy of the built-in apps and their actions (read-only for builders). */
export async function seedBuiltinApps(
  db: Queryable,
  tenantId: TenantId,
  apps: readonly BuiltinApp[] = builtinApps,
): Promise<void> {
  for (const app of apps) {
    const row = await insertApp(db, {
      tenantId,
      key: app.key,
      name: app.name,
      baseUrl: app.baseUrl,
      authKind: app.authKind,
      authConfig: app.authConfig,
      connectionSchema: app.connectionSchema,
      isBuiltin: true,
    });
    for (const a of app.actions) {
      await insertAction(db, {
        tenantId,
        appId: row.id,
        key: a.key,
        name: a.name,
        kind: a.kind,
        inputSchema: a.inputSchema,
        outputSchema: a.outputSchema,
        implementation: a.implementation,
        retryStrategy: a.retry.strategy,
        maxAttempts: a.retry.maxAttempts,
        initialDelayMs: a.retry.initialDelayMs,
        maxDelayMs: Math.max(a.retry.maxDelayMs, a.retry.initialDelayMs),
        timeoutMs: a.timeoutMs,
        rateLimitRequests: null,
        rateLimitPerSeconds: null,
      });
    }
  }
}

/**
 * Tenants created by an earlier release lack the built-in apps added since (the SaaS
 * catalogue): `switchyard migrate` and `start` add each missing one by key, leaving the
 * tenant's existing apps, their actions and the workflows using them as they are (an app of the
 * tenant's own that took a built-in's key keeps it; that built-in is not added). Returns the
 * number of apps added over all tenants.
 */
export async function addMissingBuiltinApps(pool: pg.Pool): Promise<number> {
  let added = 0;
  let after: TenantId | null = null;
  for (;;) {
    const ids: TenantId[] = await withSystem(pool, (db) =>
      selectTenantIdsPage(db, { afterId: after, limit: 200 }),
    );
    for (const tenantId of ids) {
      added += await withTenant(pool, tenantId, async (db) => {
        await lockBuiltinAppsOf(db, { tenantId });
        const have = new Set(await selectAppKeys(db));
        const missing = builtinApps.filter((a) => !have.has(a.key));
        if (missing.length > 0) await seedBuiltinApps(db, tenantId, missing);
        return missing.length;
      });
    }
    if (ids.length < 200) return added;
    after = ids[ids.length - 1]!;
  }
}
