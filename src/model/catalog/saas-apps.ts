/**
 * The first SaaS catalogue, as data: GitHub (generated from its OpenAPI description, with a
 * token or OAuth), Slack (Web API with a bot token, and incoming webhooks) and Stripe. Each
 * action's request follows the provider's documented format; test/integration/
 * catalog-saas.test.ts checks every one against a local fake of the provider.
 */
import type { BuiltinApp } from '../builtin-apps.ts';
import { githubActions } from './github-actions.ts';

const retry = {
  strategy: 'exponential',
  maxAttempts: 4,
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
} as const;
const once = { strategy: 'none', maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0 } as const;
const token = (title: string, pattern?: string) => ({
  type: 'object',
  required: ['token'],
  properties: {
    token: {
      type: 'string',
      title,
      writeOnly: true,
      minLength: 1,
      ...(pattern ? { pattern } : {}),
    },
  },
});

export const githubApp: BuiltinApp = {
  key: 'github',
  name: 'GitHub',
  baseUrl: 'https://api.github.com',
  authKind: 'bearer',
  authConfig: {},
  connectionSchema: token('Personal access token (classic or fine-grained)'),
  actions: githubActions,
};

/** The same actions, authorized by a user through a GitHub OAuth app ("Connect"). */
export const githubOAuthApp: BuiltinApp = {
  ...githubApp,
  key: 'github-oauth',
  name: 'GitHub (OAuth)',
  authKind: 'oauth2_authorization_code',
  authConfig: {
    authorizeUrl: 'https://github.com/login/oauth/authorize',
    tokenUrl: 'https://github.com/login/oauth/access_token',
    scopes: ['repo'],
    // GitHub reads the client's id and secret from the form.
    clientAuth: 'body',
    authorizeParams: {},
  },
  connectionSchema: {
    type: 'object',
    required: ['clientId', 'clientSecret'],
    properties: {
      clientId: { type: 'string', title: 'Client ID of your GitHub OAuth app' },
      clientSecret: { type: 'string', title: 'Client secret', writeOnly: true },
    },
  },
};

const slackMessage = {
  text: {
    type: 'string',
    description: 'The message (mrkdwn); the notification text when blocks are given.',
  },
  blocks: { type: 'array', items: { type: 'object' }, description: 'Block Kit blocks.' },
};

export const slackApp: BuiltinApp = {
  key: 'slack',
  name: 'Slack',
  baseUrl: 'https://slack.com/api',
  authKind: 'bearer',
  authConfig: {},
  connectionSchema: token('Bot token (xoxb-…)', '^xox[bpe]-'),
  actions: [
    {
      key: 'chat.post_message',
      name: 'Post a message',
      kind: 'http',
      inputSchema: {
        type: 'object',
        required: ['channel'],
        anyOf: [{ required: ['text'] }, { required: ['blocks'] }],
        additionalProperties: false,
        properties: {
          channel: { type: 'string', minLength: 1, description: 'Channel id (C…) or name.' },
          ...slackMessage,
          thread_ts: { type: 'string', description: 'Reply in this thread.' },
          unfurl_links: { type: 'boolean' },
          mrkdwn: { type: 'boolean' },
        },
      },
      // Slack answers HTTP 200 with {"ok": false, "error": "channel_not_found"} when it refuses:
      // the step fails on `ok` (E_STEP_OUTPUT_INVALID) instead of succeeding.
      outputSchema: {
        type: 'object',
        required: ['ok'],
        properties: {
          ok: { const: true },
          channel: { type: 'string' },
          ts: { type: 'string' },
          message: { type: 'object' },
        },
      },
      implementation: {
        method: 'POST',
        path: '/chat.postMessage',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: '{{ input }}',
        bodyType: 'json',
      },
      // Slack has no idempotency key: a retried post could show twice.
      retry: once,
      timeoutMs: 30_000,
    },
  ],
};

/**
 * Incoming webhooks: the URL Slack gives for one channel is the credential (anyone who has it
 * can post there), so it is a secret field of the connection: never shown again once set, and
 * the request goes to it through `urlFromSecret` (runner/actions/http.ts).
 */
export const slackWebhookApp: BuiltinApp = {
  key: 'slack-webhook',
  name: 'Slack incoming webhook',
  baseUrl: null,
  authKind: 'none',
  authConfig: {},
  connectionSchema: {
    type: 'object',
    required: ['webhookUrl'],
    properties: {
      webhookUrl: {
        type: 'string',
        title: 'Webhook URL',
        writeOnly: true,
        pattern: '^https://hooks\\.slack\\.com/',
        description:
          'https://hooks.slack.com/services/…, from the Slack app’s Incoming Webhooks page.',
      },
    },
  },
  actions: [
    {
      key: 'send',
      name: 'Send a message to the webhook’s channel',
      kind: 'http',
      inputSchema: {
        type: 'object',
        anyOf: [{ required: ['text'] }, { required: ['blocks'] }],
        additionalProperties: false,
        properties: slackMessage,
      },
      // Slack answers the text "ok".
      outputSchema: { const: 'ok' },
      implementation: {
        method: 'POST',
        urlFromSecret: 'webhookUrl',
        body: '{{ input }}',
        bodyType: 'json',
      },
      retry: once,
      timeoutMs: 30_000,
    },
  ],
};

const stripeObject = (object: string) => ({
  type: 'object',
  required: ['id', 'object'],
  properties: { id: { type: 'string' }, object: { const: object } },
});

/** Stripe's API takes form-encoded bodies; Switchyard's Idempotency-Key makes retries safe. */
export const stripeApp: BuiltinApp = {
  key: 'stripe',
  name: 'Stripe',
  baseUrl: 'https://api.stripe.com',
  authKind: 'bearer',
  authConfig: {},
  connectionSchema: token('Secret or restricted key (sk_… / rk_…)', '^(sk|rk)_'),
  actions: [
    {
      key: 'customers.create',
      name: 'Create a customer',
      kind: 'http',
      inputSchema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          email: { type: 'string' },
          name: { type: 'string' },
          phone: { type: 'string' },
          description: { type: 'string' },
        },
      },
      outputSchema: stripeObject('customer'),
      implementation: {
        method: 'POST',
        path: '/v1/customers',
        body: '{{ input }}',
        bodyType: 'form',
      },
      retry,
      timeoutMs: 30_000,
    },
    {
      key: 'customers.retrieve',
      name: 'Retrieve a customer',
      kind: 'http',
      inputSchema: {
        type: 'object',
        required: ['id'],
        additionalProperties: false,
        properties: { id: { type: 'string', pattern: '^cus_[A-Za-z0-9]+$' } },
      },
      outputSchema: stripeObject('customer'),
      implementation: { method: 'GET', path: '/v1/customers/{{ input.id }}' },
      retry,
      timeoutMs: 30_000,
    },
    {
      key: 'payment_intents.create',
      name: 'Create a payment intent',
      kind: 'http',
      inputSchema: {
        type: 'object',
        required: ['amount', 'currency'],
        additionalProperties: false,
        properties: {
          amount: { type: 'integer', minimum: 1, description: 'In the currency’s smallest unit.' },
          currency: { type: 'string', pattern: '^[a-z]{3}$' },
          customer: { type: 'string' },
          description: { type: 'string' },
          receipt_email: { type: 'string' },
          'automatic_payment_methods[enabled]': { type: 'boolean' },
        },
      },
      outputSchema: stripeObject('payment_intent'),
      implementation: {
        method: 'POST',
        path: '/v1/payment_intents',
        body: '{{ input }}',
        bodyType: 'form',
      },
      retry,
      timeoutMs: 30_000,
    },
    {
      key: 'refunds.create',
      name: 'Refund a payment',
      kind: 'http',
      inputSchema: {
        type: 'object',
        required: ['payment_intent'],
        additionalProperties: false,
        properties: {
          payment_intent: { type: 'string' },
          amount: { type: 'integer', minimum: 1, description: 'Default: the whole payment.' },
          reason: { enum: ['duplicate', 'fraudulent', 'requested_by_customer'] },
        },
      },
      outputSchema: stripeObject('refund'),
      implementation: {
        method: 'POST',
        path: '/v1/refunds',
        body: '{{ input }}',
        bodyType: 'form',
      },
      retry,
      timeoutMs: 30_000,
    },
  ],
};

export const saasApps: readonly BuiltinApp[] = [
  githubApp,
  githubOAuthApp,
  slackApp,
  slackWebhookApp,
  stripeApp,
];
