import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level: two payloads that differ only in key order
 * hash the same (a client may re-serialise its retry differently).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** sha256 of the canonical input: what decides "same payload" for an idempotency key. */
export function hashInput(input: unknown): Buffer {
  return createHash('sha256')
    .update(canonicalJson(input ?? null))
    .digest();
}
