/**
 * What a webhook delivery puts into its run's input (`{ body, headers, query }`): the parsed
 * body and the headers minus every one that may carry a credential or a signature. The run
 * input is stored, shown to every member of the tenant and mapped into steps, so a sender's
 * API key must not end up there; a trigger names the headers it wants kept anyway
 * (`config.keepHeaders`, docs/workflows.md).
 */
import { SwitchyardError } from '../../model/errors.ts';

/** Hop-by-hop and credential headers dropped by exact name. */
const droppedNames = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

/**
 * Names that look like credentials or signatures: `*-key` / `*_key` (x-api-key, but not
 * idempotency-key), `*-token`, `apikey`, and anything with secret, signature, password,
 * credential, session, cookie or auth in it (x-hub-signature-256, stripe-signature,
 * x-auth-token, my-secret-header, webhook-signature).
 */
const credentialLike =
  /(?:[-_](?:key|token)$)|^(?:api-?key|token|key)$|secret|signature|passw|credential|session|cookie|auth/;
const notCredentials = new Set(['idempotency-key', 'x-idempotency-key']);

export function isCredentialHeader(name: string): boolean {
  const n = name.toLowerCase();
  return droppedNames.has(n) || (!notCredentials.has(n) && credentialLike.test(n));
}

/** The headers copied into the run input: all but credentials and hop-by-hop, plus `keep`. */
export function runInputHeaders(
  headers: Record<string, string | string[] | undefined>,
  keep: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (isCredentialHeader(k) && !keep.includes(k.toLowerCase())) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** `application/json`, `application/vnd.api+json`, `text/json`… (parameters ignored). */
function isJson(contentType: string): boolean {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type === 'text/json' || type.endsWith('+json');
}

/**
 * The body as the run sees it: JSON when the Content-Type says JSON (an empty body is null;
 * one that does not parse is E_VALIDATION, as it would fail every mapping of the run), form
 * fields for `application/x-www-form-urlencoded`, text otherwise.
 */
export function parseRunBody(body: Buffer, contentType: string | undefined): unknown {
  const text = body.toString('utf8');
  if (contentType && isJson(contentType)) {
    if (text.trim() === '') return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // The parser's message quotes the body: not repeated here (nor in any log).
      throw new SwitchyardError(
        'E_VALIDATION',
        `The body is not valid JSON although Content-Type is ${contentType.split(';')[0]!.trim()}. Send valid JSON, or another Content-Type to receive the body as text.`,
        { field: 'body' },
      );
    }
  }
  if (contentType?.toLowerCase().includes('application/x-www-form-urlencoded'))
    return Object.fromEntries(new URLSearchParams(text));
  return text;
}
