/**
 * Connection secrets: a JSON object of secret fields (API key, password, client secret ...),
 * stored only as connections.secret_cipher through the secret box. Write-only for every
 * interface; readConnectionSecret is for the worker that runs a step.
 */
import {
  selectConnectionSecretCipher,
  updateConnectionSecretCipher,
} from '../../db/queries/connections.ts';
import type { Queryable } from '../../db/pool.ts';
import { SwitchyardError } from '../../model/errors.ts';
import type { ConnectionId, TenantId } from '../../model/ids.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import type { SecretScrubber } from '../scrub.ts';

export type ConnectionSecret = Record<string, unknown>;

const location = (tenantId: TenantId, connectionId: ConnectionId) => ({
  tenantId,
  table: 'connections',
  recordId: connectionId,
  field: 'secret_cipher',
});

/** Registers every string inside a secret value with the scrubber. */
export function registerSecretValues(scrubber: SecretScrubber, value: unknown): void {
  if (typeof value === 'string') scrubber.add(value);
  else if (Array.isArray(value)) for (const v of value) registerSecretValues(scrubber, v);
  else if (value && typeof value === 'object')
    for (const v of Object.values(value)) registerSecretValues(scrubber, v);
}

/** Encrypts and stores the connection's secret fields (null clears them). */
export async function storeConnectionSecret(
  db: Queryable,
  box: SecretBox,
  p: { tenantId: TenantId; connectionId: ConnectionId; secret: ConnectionSecret | null },
): Promise<void> {
  let cipher: Buffer | null = null;
  if (p.secret !== null) {
    registerSecretValues(box.scrubber, p.secret);
    const json = JSON.stringify(p.secret);
    box.scrubber.add(json);
    cipher = await box.encryptField(db, location(p.tenantId, p.connectionId), json);
  }
  const found = await updateConnectionSecretCipher(db, {
    tenantId: p.tenantId,
    id: p.connectionId,
    secretCipher: cipher,
  });
  if (!found) {
    throw new SwitchyardError('E_NOT_FOUND', `Connection ${p.connectionId} does not exist.`, {
      connectionId: p.connectionId,
    });
  }
}

/** The decrypted secret fields, or null when the connection has none. */
export async function readConnectionSecret(
  db: Queryable,
  box: SecretBox,
  p: { tenantId: TenantId; connectionId: ConnectionId },
): Promise<ConnectionSecret | null> {
  const row = await selectConnectionSecretCipher(db, { tenantId: p.tenantId, id: p.connectionId });
  if (!row) {
    throw new SwitchyardError('E_NOT_FOUND', `Connection ${p.connectionId} does not exist.`, {
      connectionId: p.connectionId,
    });
  }
  if (row.secretCipher === null) return null;
  // Opened with the key read in the same statement as the ciphertext (one snapshot).
  const plain = await box.decryptField(
    db,
    location(p.tenantId, p.connectionId),
    row.secretCipher,
    row.dataKey,
  );
  const json = plain.toString('utf8');
  plain.fill(0);
  box.scrubber.add(json);
  let secret: unknown;
  try {
    secret = JSON.parse(json);
  } catch {
    // JSON.parse quotes the input in its message: never let that message out.
    secret = undefined;
  }
  if (!secret || typeof secret !== 'object' || Array.isArray(secret)) {
    throw new SwitchyardError(
      'E_INTERNAL',
      `The stored secret of connection ${p.connectionId} is not a JSON object; set it again.`,
      { connectionId: p.connectionId },
    );
  }
  registerSecretValues(box.scrubber, secret);
  return secret as ConnectionSecret;
}
