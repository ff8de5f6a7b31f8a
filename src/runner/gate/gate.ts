/**
 * The gate: the one way out of Switchyard for step traffic (HTTP actions, OAuth token
 * fetches, code steps' `http` helper). It enforces the scheme policy, the address policy on
 * every hop (see connect.ts), at most five redirects, connect/header/total timeouts and a
 * response size cap. It never reads proxy variables and never pools sockets.
 */
import http from 'node:http';
import type net from 'node:net';
import { SwitchyardError, isSwitchyardError } from '../../model/errors.ts';
import type { GateConfig } from '../../config/runner.ts';
import { openSocket, systemResolver, tcpDialer, type Dialer, type Resolver } from './connect.ts';

export const MAX_REDIRECTS = 5;

export type GateRequest = {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Lower than the configured total timeout, e.g. the action's timeoutMs. */
  timeoutMs?: number;
  /** Credential headers (e.g. an API key header) dropped, like Authorization, on a redirect to another origin. */
  sensitiveHeaders?: string[];
};

export type GateResponse = {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
  remoteAddress: string;
};

export interface Gate {
  request(req: GateRequest, signal?: AbortSignal): Promise<GateResponse>;
}

export type GateDeps = {
  resolver?: Resolver;
  dialer?: Dialer;
  /** Trusted CA certificates (PEM) instead of the system store: for tests with a local CA. */
  ca?: string[];
};

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const crossOriginDropped = ['authorization', 'cookie', 'proxy-authorization'];

export function createGate(config: GateConfig, deps: GateDeps = {}): Gate {
  const resolver = deps.resolver ?? systemResolver;
  const dialer = deps.dialer ?? tcpDialer;
  const allowHttp = new Set(config.allowHttpHosts.map((h) => h.toLowerCase()));

  return {
    async request(req, outer) {
      const totalMs = Math.min(config.totalTimeoutMs, req.timeoutMs ?? Infinity);
      const controller = new AbortController();
      const timer = setTimeout(
        () =>
          controller.abort(
            new SwitchyardError(
              'E_GATE_TIMEOUT',
              `The request to ${safeUrl(req.url)} took longer than ${totalMs} ms in total`,
              { phase: 'total' },
            ),
          ),
        totalMs,
      );
      const onOuterAbort = () =>
        controller.abort(
          new SwitchyardError('E_STEP_CANCELED', 'The step was aborted during a request'),
        );
      if (outer?.aborted) onOuterAbort();
      else outer?.addEventListener('abort', onOuterAbort, { once: true });
      try {
        let url = parseUrl(req.url);
        let method = req.method.toUpperCase();
        let headers = { ...lowerKeys(req.headers ?? {}) };
        let body = req.body;
        for (let hop = 0; ; hop++) {
          const res = await once(url, method, headers, body, controller.signal);
          const location = res.headers.location;
          if (!redirectStatuses.has(res.status) || location === undefined) return res;
          if (hop >= MAX_REDIRECTS)
            throw new SwitchyardError(
              'E_GATE_TOO_MANY_REDIRECTS',
              `More than ${MAX_REDIRECTS} redirects, starting at ${safeUrl(req.url)}`,
            );
          const next = parseUrl(location, url);
          if (next.origin !== url.origin)
            for (const h of [...crossOriginDropped, ...(req.sensitiveHeaders ?? [])])
              headers = withoutKey(headers, h.toLowerCase());
          if (
            res.status === 303 ||
            ((res.status === 301 || res.status === 302) && method === 'POST')
          ) {
            method = method === 'HEAD' ? 'HEAD' : 'GET';
            body = undefined;
            headers = withoutKey(withoutKey(headers, 'content-type'), 'content-length');
          }
          url = next;
        }
      } catch (err) {
        const reason: unknown = controller.signal.reason;
        if (controller.signal.aborted && isSwitchyardError(reason)) throw reason;
        throw err;
      } finally {
        clearTimeout(timer);
        outer?.removeEventListener('abort', onOuterAbort);
      }
    },
  };

  function parseUrl(raw: string, base?: URL): URL {
    let url: URL;
    try {
      url = new URL(raw, base);
    } catch {
      throw new SwitchyardError('E_GATE_BLOCKED', `Not a valid URL: ${safeUrl(raw)}`);
    }
    if (url.username !== '' || url.password !== '')
      throw new SwitchyardError(
        'E_GATE_BLOCKED',
        'URLs with credentials are refused; put credentials in a connection',
      );
    if (url.protocol === 'https:') return url;
    if (url.protocol === 'http:' && allowHttp.has(hostPort(url))) return url;
    throw new SwitchyardError(
      'E_GATE_BLOCKED',
      url.protocol === 'http:'
        ? `Plain HTTP to ${hostPort(url)} is refused: use HTTPS (or add the host to GATE_ALLOW_HTTP_HOSTS for development)`
        : `The scheme ${url.protocol} is refused: only HTTPS is allowed`,
      { url: safeUrl(url.toString()) },
    );
  }

  async function once(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | Buffer | undefined,
    signal: AbortSignal,
  ): Promise<GateResponse> {
    const secure = url.protocol === 'https:';
    const port = Number(url.port || (secure ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const socket = await openSocket(
      { host, port, tls: secure, allowLoopback: allowHttp.has(hostPort(url)) },
      {
        resolver,
        dialer,
        connectTimeoutMs: config.connectTimeoutMs,
        signal,
        ...(deps.ca ? { ca: deps.ca } : {}),
      },
    );
    return send(socket, url, method, headers, body, signal);
  }

  function send(
    socket: net.Socket,
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | Buffer | undefined,
    signal: AbortSignal,
  ): Promise<GateResponse> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(headerTimer);
        signal.removeEventListener('abort', onAbort);
        request.destroy();
        socket.destroy();
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      const payload = body === undefined ? undefined : Buffer.from(body);
      const request = http.request({
        method,
        path: `${url.pathname}${url.search}`,
        setHost: false,
        headers: {
          ...headers,
          host: url.host,
          connection: 'close',
          ...(payload ? { 'content-length': String(payload.length) } : {}),
        },
        createConnection: () => socket,
      });
      const onAbort = () => fail(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      const headerTimer = setTimeout(
        () =>
          fail(
            new SwitchyardError(
              'E_GATE_TIMEOUT',
              `${url.host} sent no response headers within ${config.headersTimeoutMs} ms`,
              { phase: 'headers' },
            ),
          ),
        config.headersTimeoutMs,
      );
      if (signal.aborted) onAbort();
      request.on('error', (err) =>
        fail(
          isSwitchyardError(err)
            ? err
            : new SwitchyardError(
                'E_NETWORK',
                `Request to ${url.host} failed: ${err.message}`,
                {},
                err,
              ),
        ),
      );
      request.on('response', (res) => {
        clearTimeout(headerTimer);
        const declared = Number(res.headers['content-length'] ?? '0');
        if (declared > config.maxResponseBytes) {
          fail(tooLarge(url, config.maxResponseBytes));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > config.maxResponseBytes) fail(tooLarge(url, config.maxResponseBytes));
          else chunks.push(chunk);
        });
        res.on('error', (err) =>
          fail(new SwitchyardError('E_NETWORK', `Reading from ${url.host} failed: ${err.message}`)),
        );
        res.on('end', () => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          const flat: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({
            status: res.statusCode ?? 0,
            headers: flat,
            body: Buffer.concat(chunks),
            url: url.toString(),
            remoteAddress: socket.remoteAddress ?? '',
          });
          socket.destroy();
        });
      });
      request.end(payload);
    });
  }
}

function tooLarge(url: URL, max: number): SwitchyardError {
  return new SwitchyardError(
    'E_GATE_RESPONSE_TOO_LARGE',
    `The response of ${url.host} is larger than ${max} bytes (GATE_MAX_RESPONSE_BYTES)`,
  );
}

function hostPort(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.hostname}:${port}`.toLowerCase();
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

function withoutKey(h: Record<string, string>, key: string): Record<string, string> {
  const out = { ...h };
  delete out[key];
  return out;
}

/** A URL for messages: no query string (it may carry an API key). */
export function safeUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return raw.slice(0, 100);
  }
}
