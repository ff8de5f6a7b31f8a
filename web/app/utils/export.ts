/**
 * Exports of what a page has loaded (the audit trail, the access history) for an auditor:
 * JSON Lines (one object per line, every field kept) or CSV (RFC 4180 quoting, objects as JSON
 * text), saved by the browser from a Blob made here — no server round trip, nothing inline.
 */
type Row = Record<string, unknown>;

export function toJsonLines(rows: Row[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) || /^[=+\-@]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv(rows: Row[], columns: string[]): string {
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}

/** Saves `text` as a file through a temporary object URL. */
export function download(filename: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** `audit-2026-12-01T10-00-00Z--2026-12-06T08-00-00Z` from the oldest and newest times. */
export function rangeName(prefix: string, times: string[]): string {
  const sorted = [...times].sort();
  const clean = (t: string | undefined) =>
    (t ?? 'none').replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  return `${prefix}-${clean(sorted[0])}--${clean(sorted[sorted.length - 1])}`;
}

/** Whether an ISO time is within the datetime-local bounds given (empty: unbounded). */
export function inRange(at: string, from: string, to: string): boolean {
  const t = new Date(at).getTime();
  if (from && t < new Date(from).getTime()) return false;
  if (to && t > new Date(to).getTime()) return false;
  return true;
}

/** Pages loaded at most to reach back to a time range's start (100 each). */
export const MAX_PAGES_BACK = 50;
