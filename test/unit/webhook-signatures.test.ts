import { describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/api/webhooks/signatures.ts';

// Test vectors from the Standard Webhooks specification and GitHub's documentation; the Stripe
// vector was computed independently with `openssl dgst -sha256 -hmac`.
const standard = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: '1614265330',
  body: Buffer.from('{"test": 2432232314}'),
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('incoming webhook signatures', () => {
  const headers = (sig = standard.signature, ts = standard.timestamp) => ({
    'webhook-id': standard.id,
    'webhook-timestamp': ts,
    'webhook-signature': sig,
  });

  it('accepts the Standard Webhooks test vector, among several signatures', () => {
    const verdict = verifySignature('standard', {
      body: standard.body,
      headers: headers(`v1,bm90LXRoaXMtb25l ${standard.signature}`),
      secrets: [standard.secret],
      nowS: 1614265330 + 60,
    });
    expect(verdict).toEqual({ ok: true, deliveryId: standard.id });
  });

  it('refuses stale and future timestamps, a flipped byte, missing headers and the wrong secret', () => {
    const base = { body: standard.body, secrets: [standard.secret], nowS: 1614265330 };
    expect(
      verifySignature('standard', { ...base, headers: headers(), nowS: 1614265330 + 301 }),
    ).toEqual({ ok: false, reason: 'stale-timestamp' });
    expect(
      verifySignature('standard', { ...base, headers: headers(), nowS: 1614265330 - 301 }),
    ).toEqual({ ok: false, reason: 'stale-timestamp' });
    const flipped = Buffer.from(standard.body);
    flipped[3] = flipped[3]! ^ 1;
    expect(verifySignature('standard', { ...base, body: flipped, headers: headers() })).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(
      verifySignature('standard', { ...base, headers: { 'webhook-id': standard.id } }),
    ).toEqual({ ok: false, reason: 'missing-headers' });
    expect(
      verifySignature('standard', {
        ...base,
        headers: headers(),
        secrets: ['whsec_' + Buffer.alloc(24).toString('base64')],
      }),
    ).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('accepts the previous secret during a rotation overlap', () => {
    const verdict = verifySignature('standard', {
      body: standard.body,
      headers: headers(),
      secrets: ['whsec_' + Buffer.alloc(24, 1).toString('base64'), standard.secret],
      nowS: 1614265330,
    });
    expect(verdict.ok).toBe(true);
  });

  it('accepts GitHub’s documented example and refuses a tampered body', () => {
    const p = {
      body: Buffer.from('Hello, World!'),
      headers: {
        'x-hub-signature-256':
          'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
        'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      },
      secrets: ["It's a Secret to Everybody"],
      nowS: 0,
    };
    expect(verifySignature('github', p)).toEqual({
      ok: true,
      deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    });
    expect(verifySignature('github', { ...p, body: Buffer.from('Hello, World?') })).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('accepts a Stripe signature and takes the event id as the delivery id', () => {
    const body = Buffer.from('{"id":"evt_1","type":"invoice.paid"}');
    const sig = 'c29b8c0508b322bfdeba427529ea27705fe5de0f6db6cc0fdf6af96d5ca9abaf';
    const p = {
      body,
      headers: { 'stripe-signature': `t=1614265330,v1=${sig}` },
      secrets: ['whsec_stripe_test_secret'],
      nowS: 1614265400,
    };
    expect(verifySignature('stripe', p)).toEqual({ ok: true, deliveryId: 'evt_1' });
    expect(verifySignature('stripe', { ...p, nowS: 1614265330 + 1000 })).toEqual({
      ok: false,
      reason: 'stale-timestamp',
    });
    expect(
      verifySignature('stripe', {
        ...p,
        headers: { 'stripe-signature': `t=1614265331,v1=${sig}` },
      }),
    ).toEqual({ ok: false, reason: 'bad-signature' });
  });
});
