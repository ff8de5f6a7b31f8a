import type { Queryable } from '../db/pool.ts';
import { insertAction } from '../db/queries/actions.ts';
import { insertApp } from '../db/queries/apps.ts';
import { builtinApps } from '../model/builtin-apps.ts';
import type { TenantId } from '../model/ids.ts';

/** Gives a new tenant its copy of the built-in apps and their actions (read-only for builders). */
export async function seedBuiltinApps(db: Queryable, tenantId: TenantId): Promise<void> {
  for (const app of builtinApps) {
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
