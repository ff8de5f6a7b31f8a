/**
 * What code steps get from the host, whatever the language: log lines and the gated `http`
 * helper. Requests from code are plain data; the helper answers `{ status, headers, body }`
 * and never throws for an HTTP status (the code decides), only for gate errors.
 */
import { SwitchyardError } from '../../model/errors.ts';
import type { ExecutionLogLine } from '../../model/step.ts';
import { parseBody, type Outbound } from '../actions/outbound.ts';

export type CodeRequest = {
  code: string;
  input: unknown;
  timeoutMs: number;
  memoryLimitMb: number;
};

export type CodeHost = {
  outbound: Outbound;
  log: (line: ExecutionLogLine) => void;
  signal: AbortSignal;
};

export type HelperRequest = {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
};

/** Runs one `http` helper call for a code step; the answer is JSON-safe data. */
export async function runHelperRequest(
  raw: unknown,
  host: CodeHost,
): Promise<{ status: number; headers: Record<string, string>; body: unknown }> {
  if (raw === null || typeof raw !== 'object' || typeof (raw as HelperRequest).url !== 'string')
    throw new SwitchyardError('E_CODE_ERROR', 'http.request needs an object with a url string');
  const req = raw as HelperRequest;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = String(v);
  let body: string | undefined;
  if (req.body !== undefined && req.body !== null) {
    if (typeof req.body === 'string') body = req.body;
    else {
      body = JSON.stringify(req.body);
      headers['content-type'] ??= 'application/json';
    }
  }
  const res = await host.outbound({
    method: (req.method ?? 'GET').toUpperCase(),
    url: req.url,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  return { status: res.status, headers: res.headers, body: parseBody(res) };
}

export const LOG_LEVELS = new Set(['debug', 'info', 'warn', 'error']);
export const MAX_LOG_LINES = 500;
/** A stored log message's length: the runner cuts to it after scrubbing (runner.ts). */
export const MAX_LOG_MESSAGE_CHARS = 4_000;
/**
 * What a code step's line may hold until the runner scrubs it: twice the stored length, so a
 * secret that starts before the final cut is whole when it is scrubbed (a cut made first
 * would leave its first part behind), while a huge line still costs bounded memory.
 */
export const MAX_RAW_LOG_MESSAGE_CHARS = 2 * MAX_LOG_MESSAGE_CHARS;

export function logLine(level: string, message: string, data?: unknown): ExecutionLogLine {
  const lvl = (LOG_LEVELS.has(level) ? level : 'info') as ExecutionLogLine['level'];
  const msg =
    message.length > MAX_RAW_LOG_MESSAGE_CHARS
      ? message.slice(0, MAX_RAW_LOG_MESSAGE_CHARS)
      : message;
  return data === undefined ? { level: lvl, message: msg } : { level: lvl, message: msg, data };
}
