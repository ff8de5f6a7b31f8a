/**
 * Incoming webhook signatures, verified over the raw body bytes with constant-time
 * comparison. One function per scheme; each answers with the delivery id to use as the
 * idempotency key, or the reason it refused.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignatureScheme = 'standard' | 'github' | 'stripe';

export type Verdict =
  | { ok: true; deliveryId: string | null }
  | {
      ok: false;
      reason: 'missing-headers' | 'bad-timestamp' | 'stale-timestamp' | 'bad-signature';
    };

/** Accepted clock difference between the sender and us (Standard Webhooks and Stripe). */
export const TIMESTAMP_TOLERANCE_S = 5 * 60;

type Headers = Record<string, string | string[] | undefined>;

export function verifySignature(
  scheme: SignatureScheme,
  p: { body: Buffer; headers: Headers; secrets: string[]; nowS: number },
): Verdict {
  switch (scheme) {
    case 'standard':
      return verifyStandard(p);
    case 'github':
      return verifyGithub(p);
    case 'stripe':
      return verifyStripe(p);
  }
}

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function timestampVerdict(raw: string, nowS: number): Verdict | null {
  if (!/^\d{1,12}$/.test(raw)) return { ok: false, reason: 'bad-timestamp' };
  return Math.abs(nowS - Number(raw)) > TIMESTAMP_TOLERANCE_S
    ? { ok: false, reason: 'stale-timestamp' }
    : null;
}

/** Standard Webhooks: `webhook-signature: v1,<base64> v1,<base64>` over `id.timestamp.body`. */
function verifyStandard(p: {
  body: Buffer;
  headers: Headers;
  secrets: string[];
  nowS: number;
}): Verdict {
  const id = header(p.headers, 'webhook-id');
  const timestamp = header(p.headers, 'webhook-timestamp');
  const signature = header(p.headers, 'webhook-signature');
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing-headers' };
  const stale = timestampVerdict(timestamp, p.nowS);
  if (stale) return stale;
  const candidates = signature
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), p.body]);
  for (const secret of p.secrets) {
    const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
    const expected = createHmac('sha256', key).update(signed).digest();
    if (candidates.some((c) => equal(c, expected))) return { ok: true, deliveryId: id };
  }
  return { ok: false, reason: 'bad-signature' };
}

/** GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body; `X-GitHub-Delivery` is the id. */
function verifyGithub(p: { body: Buffer; headers: Headers; secrets: string[] }): Verdict {
  const signature = header(p.headers, 'x-hub-signature-256');
  if (!signature?.startsWith('sha256=')) return { ok: false, reason: 'missing-headers' };
  const given = Buffer.from(signature.slice(7), 'hex');
  for (const secret of p.secrets) {
    if (equal(given, createHmac('sha256', secret).update(p.body).digest())) {
      return { ok: true, deliveryId: header(p.headers, 'x-github-delivery') ?? null };
    }
  }
  return { ok: false, reason: 'bad-signature' };
}

/** Stripe: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>]` over `t.body`; the event id is the body's `id`. */
function verifyStripe(p: {
  body: Buffer;
  headers: Headers;
  secrets: string[];
  nowS: number;
}): Verdict {
  const signature = header(p.headers, 'stripe-signature');
  if (!signature) return { ok: false, reason: 'missing-headers' };
  const parts = signature.split(',').map((kv) => kv.split('=') as [string, string | undefined]);
  const timestamp = parts.find(([k]) => k === 't')?.[1];
  const given = parts.filter(([k, v]) => k === 'v1' && v).map(([, v]) => Buffer.from(v!, 'hex'));
  if (!timestamp || given.length === 0) return { ok: false, reason: 'missing-headers' };
  const stale = timestampVerdict(timestamp, p.nowS);
  if (stale) return stale;
  const signed = Buffer.concat([Buffer.from(`${timestamp}.`), p.body]);
  for (const secret of p.secrets) {
    const expected = createHmac('sha256', secret).update(signed).digest();
    if (given.some((g) => equal(g, expected)))
      return { ok: true, deliveryId: stripeEventId(p.body) };
  }
  return { ok: false, reason: 'bad-signature' };
}

function stripeEventId(body: Buffer): string | null {
  try {
    const id = (JSON.parse(body.toString('utf8')) as { id?: unknown }).id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}
