/**
 * Provider presets of webhook triggers: which event a verified delivery carries, by the
 * trigger's signature scheme, and whether the trigger's event filter (config.events) lets it
 * start a run.
 *
 * - github: `X-GitHub-Event` plus the payload's `action` → `issues.opened` (`push` when the
 *   payload has no action);
 * - stripe and standard (Standard Webhooks): the payload's `type` → `invoice.paid`.
 *
 * A filter entry is an event name (`issues.opened`), a prefix (`issues.*`: every action of
 * `issues`, and `issues` itself) or `*`. No filter: every event runs.
 */
import { SwitchyardError } from '../../model/errors.ts';

type Headers = Record<string, string | string[] | undefined>;

export type EventCheck = { run: true } | { run: false; event: string };

/** The event of a delivery, or null when the payload does not say (never filtered out). */
export function eventOf(scheme: string, body: Buffer, headers: Headers): string | null {
  const payload = parseObject(body);
  if (scheme === 'github') {
    const raw = headers['x-github-event'];
    const name = Array.isArray(raw) ? raw[0] : raw;
    if (!name) return null;
    const action = payload?.action;
    return typeof action === 'string' && action !== '' ? `${name}.${action}` : name;
  }
  const type = payload?.type;
  return typeof type === 'string' && type !== '' ? type : null;
}

export function matchesFilter(event: string, filter: readonly string[]): boolean {
  return filter.some((f) => {
    if (f === '*' || f === event) return true;
    if (!f.endsWith('.*')) return false;
    const prefix = f.slice(0, -2);
    return event === prefix || event.startsWith(`${prefix}.`);
  });
}

/** Whether a verified delivery starts a run under the trigger's filter (none: always). */
export function checkEventFilter(
  p: { scheme: string; events: readonly string[] | null },
  body: Buffer,
  headers: Headers,
): EventCheck {
  if (!p.events) return { run: true };
  const event = eventOf(p.scheme, body, headers);
  // A delivery whose event cannot be read is filtered out: the filter asks for named events.
  if (event === null) return { run: false, event: '(unknown)' };
  return matchesFilter(event, p.events) ? { run: true } : { run: false, event };
}

function parseObject(body: Buffer): Record<string, unknown> | null {
  let text = body.toString('utf8');
  // GitHub can send `application/x-www-form-urlencoded` with the JSON in `payload`.
  if (text.startsWith('payload=')) text = new URLSearchParams(text).get('payload') ?? '';
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

const eventPattern = /^(\*|[A-Za-z0-9_][A-Za-z0-9_:.-]{0,190}(\.\*)?)$/;

/** `config.events`: the events that start a run, e.g. ["issues.opened", "pull_request.*"]. */
export function validateEventFilter(raw: unknown): string[] | null {
  if (raw === undefined || raw === null) return null;
  const field = 'config.events';
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > 100)
    throw new SwitchyardError(
      'E_VALIDATION',
      `${field} must be a list of 1 to 100 event names (or leave it out to run on every event).`,
      { field },
    );
  return raw.map((e, i) => {
    const name = typeof e === 'string' ? e.trim() : '';
    if (!eventPattern.test(name))
      throw new SwitchyardError(
        'E_VALIDATION',
        `${field}[${i}] must be an event name such as "issues.opened", "invoice.paid" or "issues.*".`,
        { field: `${field}[${i}]` },
      );
    return name;
  });
}
