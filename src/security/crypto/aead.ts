/**
 * The stored form of one encrypted field (format version 1):
 *
 *   offset 0   1 byte    format version (0x01)
 *   offset 1   16 bytes  id of the tenant data key (tenant_data_keys.id, a uuid)
 *   offset 17  12 bytes  random nonce (96 bits)
 *   offset 29  n bytes   AES-256-GCM ciphertext
 *   last 16    16 bytes  GCM tag
 *
 * The associated data binds the ciphertext to where it is stored: the header (format and key
 * id) and `tenant | table | record id | field`, each length-prefixed so that no two different
 * tuples encode alike. A ciphertext copied into another row, column or tenant fails the tag.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SwitchyardError } from '../../model/errors.ts';

export const FIELD_FORMAT_V1 = 0x01;
const KEY_ID_LENGTH = 16;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + KEY_ID_LENGTH;
const MIN_LENGTH = HEADER_LENGTH + NONCE_LENGTH + TAG_LENGTH;

/** Where a ciphertext lives; every part is bound into the associated data. */
export type FieldLocation = {
  tenantId: string;
  table: string;
  recordId: string;
  field: string;
};

/** Length-prefixed concatenation: unambiguous for any strings. */
export function encodeParts(parts: readonly (string | Buffer)[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(bytes.length);
    chunks.push(len, bytes);
  }
  return Buffer.concat(chunks);
}

export function fieldAad(header: Buffer, loc: FieldLocation): Buffer {
  return encodeParts([
    'switchyard/field/v1',
    header,
    loc.tenantId.toLowerCase(),
    loc.table,
    loc.recordId.toLowerCase(),
    loc.field,
  ]);
}

export function uuidToBytes(id: string): Buffer {
  const hex = id.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError('not a uuid');
  return Buffer.from(hex, 'hex');
}

export function bytesToUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The data key id named in a stored ciphertext's header (or a decrypt failure). */
export function readKeyId(stored: Buffer): string {
  if (stored.length < MIN_LENGTH || stored[0] !== FIELD_FORMAT_V1) throw decryptFailed('format');
  return bytesToUuid(stored.subarray(1, HEADER_LENGTH));
}

export function sealField(
  dataKey: Buffer,
  keyId: string,
  loc: FieldLocation,
  plaintext: Buffer,
): Buffer {
  const header = Buffer.concat([Buffer.from([FIELD_FORMAT_V1]), uuidToBytes(keyId)]);
  const nonce = randomBytes(NONCE_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', dataKey, nonce, { authTagLength: TAG_LENGTH });
  cipher.setAAD(fieldAad(header, loc));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
}

/** Fails closed: any altered byte, or another location, gives E_SECRET_DECRYPT_FAILED. */
export function openField(dataKey: Buffer, loc: FieldLocation, stored: Buffer): Buffer {
  readKeyId(stored);
  const header = stored.subarray(0, HEADER_LENGTH);
  const nonce = stored.subarray(HEADER_LENGTH, HEADER_LENGTH + NONCE_LENGTH);
  const body = stored.subarray(HEADER_LENGTH + NONCE_LENGTH, stored.length - TAG_LENGTH);
  const tag = stored.subarray(stored.length - TAG_LENGTH);
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, nonce, {
      authTagLength: TAG_LENGTH,
    });
    decipher.setAAD(fieldAad(header, loc));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw decryptFailed('authentication', loc);
  }
}

export function decryptFailed(reason: string, loc?: FieldLocation): SwitchyardError {
  const where = loc ? ` (${loc.table}.${loc.field} of record ${loc.recordId})` : '';
  return new SwitchyardError(
    'E_SECRET_DECRYPT_FAILED',
    `A stored secret${where} failed ${reason === 'format' ? 'to parse' : 'authentication'}: it was altered or belongs to another record, field or tenant. Set the secret again.`,
    loc ? { table: loc.table, field: loc.field, recordId: loc.recordId, reason } : { reason },
  );
}
