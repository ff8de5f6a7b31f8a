/**
 * Secrets are stored only through the envelope layer: no module other than the secret query
 * files writes a cipher column (by SQL or through the query builder). Reading whether a
 * secret exists (`secret_cipher is not null`) is allowed anywhere.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../../src');
const allowed = new Set([
  'db/queries/connections.ts',
  'db/queries/triggers-secrets.ts',
  'db/queries/data-keys.ts',
  'db/schema.ts', // column types only
  // Inserts a new trigger with the cipher from sealNewWebhookSecret(): the ciphertext is bound
  // to the trigger id, so it is made (by the secret layer) before the row exists.
  'db/queries/triggers.ts',
  // The sealed PKCE code_verifier of an OAuth state (api/oauth/connect.ts seals it first).
  'db/queries/oauth-states.ts',
]);
const cipherColumn =
  '(?:previous_webhook_secret_cipher|webhook_secret_cipher|secret_cipher|verifier_cipher)';
const writes = [
  new RegExp(`insert\\s+into\\s+\\w+\\s*\\([^)]*\\b${cipherColumn}\\b`, 'i'),
  new RegExp(`update\\s+\\w+\\s+set\\b[^\`;]*\\b${cipherColumn}\\s*=`, 'i'),
  // query builder: .values({ secret_cipher: ... }) / .set({ webhook_secret_cipher: ... })
  new RegExp(`\\b${cipherColumn}\\s*:`),
];

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('secret columns', () => {
  it('are written only by the secret layer', async () => {
    const offenders: string[] = [];
    for (const file of await sources(root)) {
      const rel = path.relative(root, file).split(path.sep).join('/');
      if (allowed.has(rel)) continue;
      const text = await readFile(file, 'utf8');
      for (const re of writes) if (re.test(text)) offenders.push(`${rel}: ${re.source}`);
    }
    expect(offenders).toEqual([]);
  });
});
