/**
 * Known secret values, and `scrub(text)` that replaces them wherever they appear. Values are
 * added when a secret is created or decrypted; every log line passes through the scrubber
 * (observability/logger.ts streamWrite hook) after pino's path redaction, so a secret logged
 * under an unexpected key, or inside an error message, still never reaches the output.
 */
import { setLogScrubber } from '../observability/logger.ts';

export const SCRUBBED = '[secret]';

/** Shorter values are too likely to match ordinary text to be scrubbed usefully. */
const MIN_SECRET_LENGTH = 6;
/** Bounds memory and per-line cost; the oldest values are forgotten first. */
const MAX_SECRETS = 2_000;

export type SecretScrubber = {
  /** Registers a secret (and its base64, base64url, hex, URL-encoded and JSON-escaped forms). */
  add(value: string | Buffer): void;
  scrub(text: string): string;
  /** Whether any known secret (in any form) occurs in `text`. */
  contains(text: string): boolean;
  size(): number;
};

export function createScrubber(maxSecrets = MAX_SECRETS): SecretScrubber {
  // Insertion-ordered; re-adding moves a value to the end (least recently used go first).
  const known = new Map<string, true>();
  let pattern: RegExp | undefined;
  const remember = (form: string) => {
    if (form.length < MIN_SECRET_LENGTH) return;
    known.delete(form);
    known.set(form, true);
    while (known.size > maxSecrets) known.delete(known.keys().next().value!);
    pattern = undefined;
  };
  const compiled = (): RegExp | undefined => {
    if (known.size === 0) return undefined;
    // Longest first, so a value is replaced whole rather than by a shorter known prefix.
    pattern ??= new RegExp(
      [...known.keys()]
        .sort((a, b) => b.length - a.length)
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|'),
      'g',
    );
    return pattern;
  };
  return {
    add(value) {
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
      if (bytes.length < MIN_SECRET_LENGTH) return;
      const text = bytes.toString('utf8');
      remember(text);
      remember(JSON.stringify(text).slice(1, -1));
      remember(JSON.stringify(JSON.stringify(text)).slice(1, -1));
      remember(bytes.toString('base64'));
      remember(bytes.toString('base64url'));
      remember(bytes.toString('hex'));
      // As it travels in a URL (path, query) or a form body: %XX escapes, and `+` for spaces.
      remember(encodeURIComponent(text));
      remember(new URLSearchParams({ v: text }).toString().slice(2));
    },
    scrub(text) {
      const re = compiled();
      return re ? text.replace(re, SCRUBBED) : text;
    },
    contains(text) {
      const re = compiled();
      if (!re) return false;
      re.lastIndex = 0;
      const found = re.test(text);
      re.lastIndex = 0;
      return found;
    },
    size: () => known.size,
  };
}

/**
 * A JSON-like value with every string in it (object keys included) scrubbed; numbers, booleans
 * and null as they are. Walking the value rather than scrubbing its JSON text keeps the result
 * valid whatever characters a secret holds.
 */
export function scrubValue(value: unknown, scrub: (text: string) => string): unknown {
  if (typeof value === 'string') return scrub(value);
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, scrub));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[scrub(k)] = scrubValue(v, scrub);
    return out;
  }
  return value;
}

/** The process-wide registry: the secret helpers add to it, the logger scrubs with it. */
export const secretScrubber = createScrubber();

/** Routes every logger's output through the process-wide scrubber. Idempotent. */
export function installLogScrubbing(scrubber: SecretScrubber = secretScrubber): void {
  setLogScrubber((line) => scrubber.scrub(line));
}

/** An error's code and message fit to show or log: known secrets scrubbed, no stack or cause. */
export function safeErrorSummary(
  err: unknown,
  scrubber: SecretScrubber = secretScrubber,
): { code: string; message: string } {
  const code =
    typeof (err as { code?: unknown })?.code === 'string'
      ? (err as { code: string }).code
      : 'E_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  return { code, message: scrubber.scrub(message) };
}
