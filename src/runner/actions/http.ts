/**
 * HTTP actions: method, URL (base URL + path, or an absolute url), query, headers and body
 * are templates over `{ input, connection, run }`; the connection's auth is applied; the
 * answer's status decides between success, retryable and non-retryable failure.
 */
import { SwitchyardError } from '../../model/errors.ts';
import { idempotencyBaseOf, type ActionSpec, type StepContext } from '../../model/step.ts';
import type { GateResponse } from '../gate/gate.ts';
import { resolveMapping } from '../mapping.ts';
import type { Clock, DecryptedConnection, OAuthTokenStore } from '../types.ts';
import { applyAuth, tokenCacheKey, type TokenCache } from './auth.ts';
import { parseBody, type Outbound } from './outbound.ts';
import { standardWebhookHeaders } from './standard-webhooks.ts';
import { tracedCall } from './trace.ts';

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
const MAX_RETRY_AFTER_MS = 24 * 3600 * 1000;

export type HttpImplementation = {
  method: string;
  path?: string;
  url?: string;
  query?: unknown;
  headers?: unknown;
  body?: unknown;
  /** json (default for objects), text, or form (application/x-www-form-urlencoded). */
  bodyType?: 'json' | 'text' | 'form';
  /** 'body' (default): the output is the parsed body; 'response': `{ status, headers, body }`. */
  output?: 'body' | 'response';
  /** Sign the body for the receiver (outgoing webhooks). */
  signing?: 'standard-webhooks';
  /**
   * The connection's secret field holding the whole request URL, for URLs that are themselves
   * credentials (Slack's and Teams' incoming webhooks): never in config, where every member
   * reads it, and scrubbed from what the step stores. Instead of `url` and `path`.
   */
  urlFromSecret?: string;
};

export type HttpDeps = {
  outbound: Outbound;
  tokens: TokenCache;
  /** Refreshes oauth2_authorization_code tokens (see OAuthTokenStore). */
  oauth?: OAuthTokenStore;
  clock: Clock;
  log: (level: 'info' | 'warn', message: string, data?: unknown) => void;
  /** Told each secret value auth puts on the wire (see AuthDeps.reveal). */
  reveal?: (value: string) => void;
  /** Scrubs known secrets; applied to an error's body snippet before it is cut to length. */
  scrub?: (text: string) => string;
};

export async function executeHttpAction(
  p: {
    action: ActionSpec;
    context: StepContext;
    input: unknown;
    connection: DecryptedConnection | null;
  },
  deps: HttpDeps,
): Promise<unknown> {
  const impl = p.action.implementation as HttpImplementation | null;
  if (!impl || typeof impl !== 'object')
    throw new SwitchyardError('E_ACTION_INVALID', 'An http action needs an implementation object');
  const scope = {
    input: p.input,
    connection: p.connection?.config ?? {},
    run: {
      id: p.context.runId,
      attempt: p.context.attempt,
      time: p.context.runStartedAt.toISOString(),
    },
  };
  const r = resolveMapping(
    {
      method: impl.method,
      path: impl.path,
      url: impl.url,
      query: impl.query,
      headers: impl.headers,
      body: impl.body,
    },
    scope,
    'implementation',
  ) as {
    method: unknown;
    path: unknown;
    url: unknown;
    query: unknown;
    headers: unknown;
    body: unknown;
  };

  const method = (typeof r.method === 'string' ? r.method : 'GET').toUpperCase();
  if (!METHODS.has(method))
    throw new SwitchyardError(
      'E_ACTION_INVALID',
      `Unsupported HTTP method ${JSON.stringify(r.method)}`,
    );
  const url = impl.urlFromSecret
    ? secretUrl(p.connection, impl.urlFromSecret, deps)
    : buildUrl(p.action.baseUrl, r.url, r.path);
  const authDeps = {
    tenantId: p.context.tenantId,
    outbound: deps.outbound,
    tokens: deps.tokens,
    clock: deps.clock,
    ...(deps.oauth ? { oauth: deps.oauth } : {}),
    ...(deps.reveal ? { reveal: deps.reveal } : {}),
  };
  const auth = await applyAuth(p.connection, authDeps);
  for (const [k, v] of Object.entries({ ...stringMap(r.query, 'query'), ...auth.query }))
    url.searchParams.set(k, v);

  const headers: Record<string, string> = {
    accept: 'application/json, text/plain;q=0.9, */*;q=0.5',
    'user-agent': 'Switchyard/0.1',
    ...lower(stringMap(r.headers, 'headers')),
    ...auth.headers,
    'idempotency-key': idempotencyBaseOf(p.context),
  };
  const body = encodeBody(r.body, impl.bodyType, headers, method);
  if (impl.signing === 'standard-webhooks') {
    const secret = p.connection?.secret.signingSecret;
    if (!secret)
      throw new SwitchyardError(
        'E_CONNECTION_INVALID',
        'A signed webhook needs a connection with signingSecret',
      );
    Object.assign(
      headers,
      standardWebhookHeaders({
        secret,
        // Stable across attempts, so the receiver can drop a duplicate delivery.
        id: `msg_${idempotencyBaseOf(p.context).replace(':', '_')}`,
        timestampS: Math.floor(deps.clock.now().getTime() / 1000),
        body: body ?? '',
      }),
    );
  }

  const send = () =>
    tracedCall({ method, url, parent: p.context.traceparent }, (traceparent) =>
      deps.outbound({
        method,
        url: url.toString(),
        headers: { ...headers, traceparent },
        ...(body !== undefined ? { body } : {}),
        sensitiveHeaders: Object.keys(auth.headers),
        timeoutMs: p.action.timeoutMs,
      }),
    );
  let res = await send();
  if (res.status === 401 && p.connection?.authKind === 'oauth2_client_credentials') {
    // The cached token may have been revoked early: fetch a fresh one once.
    deps.tokens.delete(tokenCacheKey(p.context.tenantId, p.connection));
    const fresh = await applyAuth(p.connection, authDeps);
    Object.assign(headers, fresh.headers);
    res = await send();
  } else if (res.status === 401 && p.connection?.authKind === 'oauth2_authorization_code') {
    // Revoked or expired early: refresh once (or take another worker's fresh token) and retry.
    const rejectedToken = p.connection.secret.accessToken;
    const fresh = await applyAuth(p.connection, {
      ...authDeps,
      ...(rejectedToken ? { rejectedToken } : {}),
    });
    Object.assign(headers, fresh.headers);
    res = await send();
  }
  deps.log('info', `${method} ${url.origin}${url.pathname} → ${res.status}`, {
    status: res.status,
  });
  return interpret(res, impl.output ?? 'body', deps.clock, deps.scrub ?? ((t) => t));
}

function interpret(
  res: GateResponse,
  output: 'body' | 'response',
  clock: Clock,
  scrub: (text: string) => string,
): unknown {
  const body = parseBody(res);
  if (res.status >= 200 && res.status < 300)
    return output === 'response' ? { status: res.status, headers: res.headers, body } : body;
  // Scrubbed before it is cut: a secret straddling the cut would leave its first part behind.
  const snippet = scrub(typeof body === 'string' ? body : JSON.stringify(body)).slice(0, 300);
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], clock);
    throw new SwitchyardError(
      'E_UPSTREAM_UNAVAILABLE',
      `The external API answered ${res.status}${retryAfterMs !== undefined ? ` (Retry-After ${retryAfterMs} ms)` : ''}: ${snippet}`,
      { status: res.status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
    );
  }
  throw new SwitchyardError(
    'E_UPSTREAM_REJECTED',
    `The external API answered ${res.status}: ${snippet}`,
    {
      status: res.status,
    },
  );
}

/** Retry-After: delay-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, clock: Clock): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - clock.now().getTime()), MAX_RETRY_AFTER_MS);
}

function buildUrl(baseUrl: string | null, url: unknown, path: unknown): URL {
  try {
    if (typeof url === 'string' && url !== '') return new URL(url);
    if (!baseUrl) throw new Error('the app has no base URL and the action no url');
    const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
    const rel = typeof path === 'string' ? path.replace(/^\//, '') : '';
    return new URL(rel, base);
  } catch (err) {
    throw new SwitchyardError(
      'E_ACTION_INVALID',
      `Cannot build the request URL: ${(err as Error).message}`,
    );
  }
}

/** The URL kept in the connection's secret `field`; errors never echo it. */
function secretUrl(conn: DecryptedConnection | null, field: string, deps: HttpDeps): URL {
  const value = conn?.secret[field];
  if (typeof value !== 'string' || value === '')
    throw new SwitchyardError(
      'E_CONNECTION_INVALID',
      `The step's connection has no secret.${field} (the request URL); set it on the connection.`,
    );
  deps.reveal?.(value);
  if (!URL.canParse(value))
    throw new SwitchyardError(
      'E_CONNECTION_INVALID',
      `The connection's secret.${field} is not an absolute URL; set it again on the connection.`,
    );
  return new URL(value);
}

function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw new SwitchyardError('E_ACTION_INVALID', `The ${what} template must resolve to an object`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>))
    if (val !== undefined && val !== null)
      out[k] = typeof val === 'string' ? val : JSON.stringify(val);
  return out;
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

function encodeBody(
  body: unknown,
  type: HttpImplementation['bodyType'],
  headers: Record<string, string>,
  method: string,
): string | undefined {
  if (body === undefined || body === null || method === 'GET' || method === 'HEAD')
    return undefined;
  if (type === 'form') {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    return new URLSearchParams(stringMap(body, 'body')).toString();
  }
  if (type === 'text' || (type === undefined && typeof body === 'string')) {
    headers['content-type'] ??= 'text/plain; charset=utf-8';
    return typeof body === 'string' ? body : JSON.stringify(body);
  }
  headers['content-type'] ??= 'application/json';
  return JSON.stringify(body);
}
