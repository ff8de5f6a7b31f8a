/** A Standard Webhooks sender, as the tests' external systems sign their deliveries. */
import { createHmac } from 'node:crypto';

export function signedHeaders(
  body: string,
  secret: string,
  id: string,
  ts = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const mac = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
    .update(`${id}.${ts}.${body}`)
    .digest('base64');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': `v1,${mac}`,
    'content-type': 'application/json',
  };
}
