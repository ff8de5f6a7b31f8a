/**
 * The runs page's filters (status, workflow, time range) and their form in the URL query, so
 * that a filtered view can be reloaded, bookmarked and shared:
 * `?status=failed,dead&workflow=<id>&range=24h` or `&from=<ISO>&to=<ISO>` for a custom range.
 */
export const RUN_STATUSES = [
  'queued',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'dead',
  'canceled',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const RANGES = {
  '1h': { title: 'Last hour', ms: 3_600_000 },
  '24h': { title: 'Last 24 hours', ms: 86_400_000 },
  '7d': { title: 'Last 7 days', ms: 7 * 86_400_000 },
  '30d': { title: 'Last 30 days', ms: 30 * 86_400_000 },
} as const;
export type RangeKey = keyof typeof RANGES | 'custom' | 'any';

export type RunFilters = {
  statuses: RunStatus[];
  workflowId: string | null;
  range: RangeKey;
  /** A custom range's bounds, ISO strings. */
  from: string | null;
  to: string | null;
};

export const emptyFilters = (): RunFilters => ({
  statuses: [],
  workflowId: null,
  range: 'any',
  from: null,
  to: null,
});

type Query = Record<string, string | null | (string | null)[] | undefined>;
const one = (v: Query[string]): string | null => (Array.isArray(v) ? v[0] : v) ?? null;
const isDate = (s: string | null) => s !== null && !Number.isNaN(Date.parse(s));

export function filtersFromQuery(q: Query): RunFilters {
  const statuses = (one(q.status) ?? '')
    .split(',')
    .filter((s): s is RunStatus => (RUN_STATUSES as readonly string[]).includes(s));
  const range = one(q.range);
  const from = one(q.from);
  const to = one(q.to);
  const custom = isDate(from) || isDate(to);
  return {
    statuses,
    workflowId: one(q.workflow),
    range: custom ? 'custom' : range && range in RANGES ? (range as RangeKey) : 'any',
    from: isDate(from) ? from : null,
    to: isDate(to) ? to : null,
  };
}

export function filtersToQuery(f: RunFilters): Record<string, string> {
  const q: Record<string, string> = {};
  if (f.statuses.length) q.status = f.statuses.join(',');
  if (f.workflowId) q.workflow = f.workflowId;
  if (f.range === 'custom') {
    if (f.from) q.from = f.from;
    if (f.to) q.to = f.to;
  } else if (f.range !== 'any') q.range = f.range;
  return q;
}

/** The API's RunFilter; a relative range is measured from `now`, when the page is asked for. */
export function toRunFilter(f: RunFilters, now: number) {
  const range = f.range !== 'custom' && f.range !== 'any' ? RANGES[f.range] : null;
  return {
    ...(f.statuses.length ? { statuses: f.statuses } : {}),
    ...(f.workflowId ? { workflowId: f.workflowId } : {}),
    ...(range ? { createdFrom: new Date(now - range.ms).toISOString() } : {}),
    ...(f.range === 'custom' && f.from ? { createdFrom: f.from } : {}),
    ...(f.range === 'custom' && f.to ? { createdTo: f.to } : {}),
  };
}

export const isFiltered = (f: RunFilters) =>
  f.statuses.length > 0 || f.workflowId !== null || f.range !== 'any';
