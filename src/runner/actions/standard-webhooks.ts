/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): the signed content is
 * `${id}.${timestamp}.${body}`, HMAC-SHA256 with the base64-decoded secret after `whsec_`,
 * sent as `webhook-signature: v1,<base64>`.
 */
import { createHmac } from 'node:crypto';
import { SwitchyardError } from '../../model/errors.ts';

export function signStandardWebhook(p: {
  secret: string;
  id: string;
  timestampS: number;
  body: string;
}): string {
  const raw = p.secret.startsWith('whsec_') ? p.secret.slice('whsec_'.length) : p.secret;
  const key = Buffer.from(raw, 'base64');
  if (key.length === 0)
    throw new SwitchyardError('E_CONNECTION_INVALID', 'The webhook signing secret is empty');
  const mac = createHmac('sha256', key)
    .update(`${p.id}.${p.timestampS}.${p.body}`)
    .digest('base64');
  return `v1,${mac}`;
}

export function standardWebhookHeaders(p: {
  secret: string;
  id: string;
  timestampS: number;
  body: string;
}): Record<string, string> {
  return {
    'webhook-id': p.id,
    'webhook-timestamp': String(p.timestampS),
    'webhook-signature': signStandardWebhook(p),
  };
}
