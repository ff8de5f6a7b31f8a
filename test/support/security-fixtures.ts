/** Rows that hold secrets (an app + connection, a workflow + webhook trigger) for security tests. */
import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { withTenant } from '../../src/db/tenant.ts';
import type { ConnectionId, TenantId, TriggerId } from '../../src/model/ids.ts';
import { createSecretBox, type SecretBox } from '../../src/security/crypto/secret-box.ts';
import { createLocalProvider } from '../../src/security/kms/local.ts';
import type { KeyProvider } from '../../src/security/kms/provider.ts';
import type { MasterKeyRing } from '../../src/security/kms/master-keys.ts';
import { createScrubber } from '../../src/security/scrub.ts';
import { setWebhookSecret } from '../../src/security/secrets/webhooks.ts';
import { testLogger } from './db.ts';

export function localRing(versions = 1): MasterKeyRing {
  const keys = new Map<number, Buffer>();
  for (let v = 1; v <= versions; v++) keys.set(v, randomBytes(32));
  return { keys, latest: versions };
}

/** A local provider whose ring can grow (rotate) and shrink (retire) in memory. */
export function memoryLocalProvider(ring = localRing()): KeyProvider {
  return createLocalProvider({
    ring,
    addVersion: () => {
      ring.latest += 1;
      ring.keys.set(ring.latest, randomBytes(32));
      return Promise.resolve(ring.latest);
    },
    removeVersionsUpTo: (version) => {
      for (const v of [...ring.keys.keys()]) if (v <= version) ring.keys.delete(v);
      return Promise.resolve();
    },
  });
}

export function testSecretBox(provider: KeyProvider = memoryLocalProvider()): SecretBox {
  return createSecretBox({ provider, logger: testLogger, scrubber: createScrubber() });
}

export async function makeConnection(
  pool: pg.Pool,
  tenantId: TenantId,
  config: Record<string, unknown> = {},
): Promise<ConnectionId> {
  return withTenant(pool, tenantId, async (c) => {
    const app = await c.query<{ id: string }>(
      `insert into apps (tenant_id, key, name, auth_kind) values ($1, $2, 'Test app', 'api_key') returning id`,
      [tenantId, `app-${randomUUID().slice(0, 8)}`],
    );
    const conn = await c.query<{ id: ConnectionId }>(
      `insert into connections (tenant_id, app_id, name, config) values ($1, $2, 'Test connection', $3) returning id`,
      [tenantId, app.rows[0]!.id, JSON.stringify(config)],
    );
    return conn.rows[0]!.id;
  });
}

/**
 * A webhook trigger needs a secret from the start (check constraint): it is inserted with a
 * placeholder and its secret set through the secret layer in the same transaction.
 */
export async function makeWebhookTrigger(
  pool: pg.Pool,
  box: SecretBox,
  tenantId: TenantId,
  secret?: string,
): Promise<TriggerId> {
  return withTenant(pool, tenantId, async (c) => {
    const wf = await c.query<{ id: string }>(
      `insert into workflows (tenant_id, name) values ($1, 'Test workflow') returning id`,
      [tenantId],
    );
    const trg = await c.query<{ id: TriggerId }>(
      `insert into triggers (tenant_id, workflow_id, kind, webhook_secret_cipher)
       values ($1, $2, 'webhook', '\\x00') returning id`,
      [tenantId, wf.rows[0]!.id],
    );
    const triggerId = trg.rows[0]!.id;
    await setWebhookSecret(c, box, { tenantId, triggerId, ...(secret ? { secret } : {}) });
    return triggerId;
  });
}
