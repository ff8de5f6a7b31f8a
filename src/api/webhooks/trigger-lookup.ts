/**
 * Webhook ingress's view of a trigger: its route (tenant, workflow, scheme) and the secrets a
 * signature may match. Kept in memory for `ttlMs` so that a burst of deliveries costs one
 * lookup and one decryption per trigger, not one per request. The price: disabling a trigger
 * or ending a rotation overlap takes effect up to `ttlMs` later (WEBHOOK_TRIGGER_CACHE_MS).
 */
import type pg from 'pg';
import { selectWebhookRoute, type WebhookRoute } from '../../db/queries/triggers.ts';
import { withSystem, withTenant } from '../../db/tenant.ts';
import { isSwitchyardError, SwitchyardError } from '../../model/errors.ts';
import type { TriggerId } from '../../model/ids.ts';
import type { SecretBox } from '../../security/crypto/secret-box.ts';
import { readWebhookSecrets } from '../../security/secrets/webhooks.ts';

export type WebhookTarget = { route: WebhookRoute; secrets: string[] };

const MAX_ENTRIES = 10_000;

export function createTriggerLookup(opts: {
  pool: pg.Pool;
  secrets: SecretBox;
  ttlMs: number;
  now: () => Date;
}) {
  const cache = new Map<string, { target: WebhookTarget | null; expiresAt: number }>();
  const load = async (triggerId: TriggerId): Promise<WebhookTarget | null> => {
    const route = await withSystem(opts.pool, (db) => selectWebhookRoute(db, { id: triggerId }));
    if (!route?.enabled) return null;
    const s = await withTenant(opts.pool, route.tenantId, (db) =>
      readWebhookSecrets(db, opts.secrets, {
        tenantId: route.tenantId,
        triggerId,
        now: opts.now(),
      }),
    ).catch((err: unknown) => {
      // Altered bytes or a retired key: no delivery can be verified until the secret is
      // rotated. Fail closed, with a code that says so (never E_INTERNAL, never unsigned).
      if (!isSwitchyardError(err, 'E_SECRET_DECRYPT_FAILED')) throw err;
      throw new SwitchyardError(
        'E_WEBHOOK_SECRET_UNREADABLE',
        'This webhook’s signing secret cannot be decrypted, so no delivery can be verified; rotate it (rotateWebhookSecret).',
        { tenantId: route.tenantId, triggerId },
      );
    });
    return { route, secrets: [s.current, s.previous].filter((x): x is string => x !== null) };
  };
  return {
    /** The enabled webhook trigger with that id, or null (unknown or disabled). */
    async get(triggerId: TriggerId): Promise<WebhookTarget | null> {
      const now = opts.now().getTime();
      const hit = cache.get(triggerId);
      if (hit && hit.expiresAt > now) return hit.target;
      const target = await load(triggerId);
      if (opts.ttlMs > 0) {
        if (cache.size >= MAX_ENTRIES) cache.clear();
        cache.set(triggerId, { target, expiresAt: now + opts.ttlMs });
      }
      return target;
    },
  };
}

export type TriggerLookup = ReturnType<typeof createTriggerLookup>;
