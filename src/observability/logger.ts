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
];

export function createLogger(
  opts: { level: string; name?: string },
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level: opts.level,
      name: opts.name ?? 'switchyard',
      redact: { paths: redactPaths, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
