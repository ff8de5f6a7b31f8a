/**
 * The apps that ship with Switchyard, as data: every new tenant gets a copy of these rows
 * (accounts/builtin-apps.ts); the runner executes them like any other action.
 */
import { saasApps } from './catalog/saas-apps.ts';
import type { ActionKind, AuthKind, RetryPolicy } from './step.ts';

/** An http action's templates (executed by runner/actions/http.ts). */
type HttpImplementation = Record<string, unknown> & { method: string };

export type BuiltinAction = {
  key: string;
  name: string;
  kind: ActionKind;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
  implementation: HttpImplementation | { codeFromInput: true };
  retry: RetryPolicy;
  timeoutMs: number;
};

export type BuiltinApp = {
  key: string;
  name: string;
  baseUrl: string | null;
  authKind: AuthKind;
  authConfig: Record<string, unknown>;
  connectionSchema: Record<string, unknown>;
  actions: BuiltinAction[];
};

const retry: RetryPolicy = {
  strategy: 'exponential',
  maxAttempts: 5,
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
};
const noRetry: RetryPolicy = { strategy: 'none', maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0 };
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };

export const httpRequestApp: BuiltinApp = {
  key: 'http',
  name: 'HTTP request',
  baseUrl: null,
  authKind: 'none',
  authConfig: {},
  connectionSchema: { type: 'object' },
  actions: [
    {
      key: 'request',
      name: 'Send an HTTP request',
      kind: 'http',
      inputSchema: {
        type: 'object',
        required: ['url'],
        properties: {
          method: {
            enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'],
            default: 'GET',
          },
          url: { type: 'string', format: 'uri' },
          headers: { ...stringMap, default: {} },
          query: { ...stringMap, default: {} },
          body: { default: null },
        },
      },
      outputSchema: {
        type: 'object',
        required: ['status', 'headers', 'body'],
        properties: { status: { type: 'integer' }, headers: { type: 'object' }, body: {} },
      },
      implementation: {
        method: '{{ input.method }}',
        url: '{{ input.url }}',
        headers: '{{ input.headers }}',
        query: '{{ input.query }}',
        body: '{{ input.body }}',
        output: 'response',
      },
      retry,
      timeoutMs: 30_000,
    },
  ],
};

export const webhookApp: BuiltinApp = {
  key: 'webhook',
  name: 'Outgoing webhook (Standard Webhooks)',
  baseUrl: null,
  authKind: 'none',
  authConfig: {},
  connectionSchema: {
    type: 'object',
    required: ['signingSecret'],
    properties: { signingSecret: { type: 'string', pattern: '^whsec_[A-Za-z0-9+/=]+$' } },
  },
  actions: [
    {
      key: 'send',
      name: 'Send a signed webhook',
      kind: 'http',
      inputSchema: {
        type: 'object',
        required: ['url', 'payload'],
        properties: {
          url: { type: 'string', format: 'uri' },
          payload: {},
          headers: { ...stringMap, default: {} },
        },
      },
      outputSchema: {
        type: 'object',
        required: ['status'],
        properties: { status: { type: 'integer' }, headers: { type: 'object' }, body: {} },
      },
      implementation: {
        method: 'POST',
        url: '{{ input.url }}',
        headers: '{{ input.headers }}',
        body: '{{ input.payload }}',
        bodyType: 'json',
        output: 'response',
        signing: 'standard-webhooks',
      },
      retry,
      timeoutMs: 30_000,
    },
  ],
};

const codeInput = {
  type: 'object',
  required: ['code'],
  properties: { code: { type: 'string', minLength: 1 } },
};

export const javascriptApp: BuiltinApp = {
  key: 'javascript',
  name: 'JavaScript code',
  baseUrl: null,
  authKind: 'none',
  authConfig: {},
  connectionSchema: { type: 'object' },
  actions: [
    {
      key: 'run',
      name: 'Run JavaScript',
      kind: 'javascript',
      inputSchema: codeInput,
      outputSchema: {},
      implementation: { codeFromInput: true },
      retry: noRetry,
      timeoutMs: 30_000,
    },
  ],
};

export const pythonApp: BuiltinApp = {
  key: 'python',
  name: 'Python code',
  baseUrl: null,
  authKind: 'none',
  authConfig: {},
  connectionSchema: { type: 'object' },
  actions: [
    {
      key: 'run',
      name: 'Run Python',
      kind: 'python',
      inputSchema: codeInput,
      outputSchema: {},
      implementation: { codeFromInput: true },
      retry: noRetry,
      timeoutMs: 30_000,
    },
  ],
};

export const builtinApps: readonly BuiltinApp[] = [
  httpRequestApp,
  webhookApp,
  javascriptApp,
  pythonApp,
  ...saasApps,
];
