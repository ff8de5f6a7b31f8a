/**
 * Exports for an auditor (the audit trail, the access history, every row of a filter):
 * JSON Lines (one object per line, every field kept) or CSV (RFC 4180 quoting, objects as JSON
 * text), built from the API's pages and saved by the browser from a Blob made here (nothing inline).
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
