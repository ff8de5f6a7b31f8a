import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths whose values are secrets wherever they appear in a log object. Redaction by path is
 * the first line; known secret values are also scrubbed from messages (security/scrub).
 */
export const redactPaths = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.secretCipher',
  '*.webhookSecret',
  'connectionString',
  '*.connectionString',
  'plaintext',
  '*.plaintext',
  'masterKey',
  '*.masterKey',
  'dataKey',
  '*.dataKey',
];

/**
 * Scrubs known secret values from each serialised log line. Injected by security/scrub.ts
 * (observability may not import security); identity until then.
 */
let logScrubber: (line: string) => string = (line) => line;

export function setLogScrubber(scrub: (line: string) => string): void {
  logScrubber = scrub;
}

export function createLogger(
  opts: { level: string; name?: string; scrub?: (line: string) => string },
  destination?: DestinationStream,
): Logger {
  const scrub = opts.scrub;
  return pino(
    {
      level: opts.level,
      name: opts.name ?? 'switchyard',
      redact: { paths: redactPaths, censor: '[redacted]' },
      hooks: { streamWrite: scrub ?? ((line: string) => logScrubber(line)) },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
