/**
 * Webhook signing secrets of triggers. Rotating keeps the previous secret valid for an overlap
 * window (triggers.previous_secret_expires_at), so that senders can switch without losing
 * deliveries. The previous secret is re-encrypted under its own column's binding when it moves.
 */
import { randomBytes } from 'node:crypto';
import {
  selectTriggerSecretCiphers,
  selectTriggerSecretCiphersForUpdate,
  updateTriggerSecretCiphers,
} from '../../db/queries/triggers-secrets.ts';
import type { DataKeyRow } from '../../db/queries/data-keys.ts';
import type { Queryable } from '../../db/pool.ts';
import { SwitchyardError } from '../../model/errors.ts';
import type { TenantId, TriggerId } from '../../model/ids.ts';
import type { SecretBox } from '../crypto/secret-box.ts';

/** Standard Webhooks format: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

const CURRENT = 'webhook_secret_cipher';
const PREVIOUS = 'previous_webhook_secret_cipher';
const loc = (tenantId: TenantId, triggerId: TriggerId, field: string) => ({
  tenantId,
  table: 'triggers',
  recordId: triggerId,
  field,
});

const notFound = (triggerId: TriggerId) =>
  new SwitchyardError('E_NOT_FOUND', `Trigger ${triggerId} does not exist.`, { triggerId });

/**
 * A new webhook secret and its ciphertext for a trigger that is about to be inserted (the
 * trigger's id is chosen by the caller first: the ciphertext is bound to it). The caller
 * stores `cipher` in webhook_secret_cipher in the same transaction and shows `secret` once.
 */
export async function sealNewWebhookSecret(
  db: Queryable,
  box: SecretBox,
  p: { tenantId: TenantId; triggerId: TriggerId; secret?: string },
): Promise<{ secret: string; cipher: Buffer }> {
  const secret = p.secret ?? generateWebhookSecret();
  if (secret.length < 16) {
    throw new SwitchyardError('E_VALIDATION', 'A webhook secret needs at least 16 characters.', {
      field: 'secret',
    });
  }
  box.scrubber.add(secret);
  const cipher = await box.encryptField(db, loc(p.tenantId, p.triggerId, CURRENT), secret);
  return { secret, cipher };
}

/**
 * Sets (or rotates) the trigger's webhook secret and returns it: the only time it is shown.
 * With `previousValidForMs` > 0 the old secret stays valid that long; 0 drops it at once.
 */
export async function setWebhookSecret(
  db: Queryable,
  box: SecretBox,
  p: {
    tenantId: TenantId;
    triggerId: TriggerId;
    secret?: string;
    previousValidForMs?: number;
    now?: Date;
  },
): Promise<{ secret: string; previousExpiresAt: Date | null }> {
  const secret = p.secret ?? generateWebhookSecret();
  if (secret.length < 16) {
    throw new SwitchyardError('E_VALIDATION', 'A webhook secret needs at least 16 characters.', {
      field: 'secret',
    });
  }
  box.scrubber.add(secret);
  const existing = await selectTriggerSecretCiphersForUpdate(db, {
    tenantId: p.tenantId,
    id: p.triggerId,
  });
  if (!existing) throw notFound(p.triggerId);
  const overlapMs = p.previousValidForMs ?? 0;
  let previous: Buffer | null = null;
  let previousExpiresAt: Date | null = null;
  if (existing.current && overlapMs > 0) {
    const old = await box.decryptField(db, loc(p.tenantId, p.triggerId, CURRENT), existing.current);
    box.scrubber.add(old);
    previous = await box.encryptField(db, loc(p.tenantId, p.triggerId, PREVIOUS), old);
    old.fill(0);
    previousExpiresAt = new Date((p.now ?? new Date()).getTime() + overlapMs);
  }
  const current = await box.encryptField(db, loc(p.tenantId, p.triggerId, CURRENT), secret);
  await updateTriggerSecretCiphers(db, {
    tenantId: p.tenantId,
    id: p.triggerId,
    current,
    previous,
    previousExpiresAt,
  });
  return { secret, previousExpiresAt };
}

/** The secrets a signature may be checked against: current, and previous while still valid. */
export async function readWebhookSecrets(
  db: Queryable,
  box: SecretBox,
  p: { tenantId: TenantId; triggerId: TriggerId; now?: Date },
): Promise<{ current: string | null; previous: string | null }> {
  const row = await selectTriggerSecretCiphers(db, { tenantId: p.tenantId, id: p.triggerId });
  if (!row) throw notFound(p.triggerId);
  const now = p.now ?? new Date();
  // Each ciphertext is opened with the key read in the same statement (one snapshot).
  const open = async (cipher: Buffer, field: string, key: DataKeyRow | undefined) => {
    const plain = await box.decryptField(db, loc(p.tenantId, p.triggerId, field), cipher, key);
    const text = plain.toString('utf8');
    plain.fill(0);
    box.scrubber.add(text);
    return text;
  };
  const current = row.current ? await open(row.current, CURRENT, row.currentKey) : null;
  const previousValid =
    row.previous !== null && row.previousExpiresAt !== null && row.previousExpiresAt > now;
  const previous =
    previousValid && row.previous ? await open(row.previous, PREVIOUS, row.previousKey) : null;
  return { current, previous };
}
