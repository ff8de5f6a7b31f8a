/**
 * A unified, line-based diff of two JSON values (pretty-printed with their keys sorted, so
 * that the same definition saved with its keys in another order shows no change), for
 * comparing workflow versions: each line marked added, removed or unchanged, long unchanged
 * runs folded to a few lines of context around the changes.
 */
import { diffLines } from 'diff';

export type DiffLine = { kind: 'added' | 'removed' | 'same'; text: string };
export type DiffRow = DiffLine | { kind: 'fold'; count: number };

const CONTEXT = 3;

export function jsonDiff(
  before: unknown,
  after: unknown,
): {
  rows: DiffRow[];
  added: number;
  removed: number;
} {
  const a = JSON.stringify(canonical(before ?? null), null, 2);
  const b = JSON.stringify(canonical(after ?? null), null, 2);
  const lines: DiffLine[] = [];
  for (const part of diffLines(a, b)) {
    const kind = part.added ? 'added' : part.removed ? 'removed' : 'same';
    for (const text of part.value.replace(/\n$/, '').split('\n')) lines.push({ kind, text });
  }
  const added = lines.filter((l) => l.kind === 'added').length;
  const removed = lines.filter((l) => l.kind === 'removed').length;
  return { rows: fold(lines), added, removed };
}

/** Keeps CONTEXT unchanged lines on each side of a change; the rest become one fold row. */
function fold(lines: DiffLine[]): DiffRow[] {
  const near = lines.map(() => false);
  lines.forEach((l, i) => {
    if (l.kind === 'same') return;
    for (let j = Math.max(0, i - CONTEXT); j <= Math.min(lines.length - 1, i + CONTEXT); j++)
      near[j] = true;
  });
  const rows: DiffRow[] = [];
  let skipped = 0;
  lines.forEach((l, i) => {
    if (l.kind !== 'same' || near[i]) {
      if (skipped) rows.push({ kind: 'fold', count: skipped });
      skipped = 0;
      rows.push(l);
    } else skipped++;
  });
  if (skipped) rows.push({ kind: 'fold', count: skipped });
  return rows;
}

/** The value with every object's keys in order (arrays keep theirs: step order matters). */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  return value;
}
