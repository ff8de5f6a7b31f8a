/** A JSON value's one-line summary beside its label: "empty", "1 field", "3 items", "string". */
export function jsonSummary(v: unknown): string {
  if (v === null || v === undefined) return 'empty';
  if (Array.isArray(v)) return count(v.length, 'item');
  if (typeof v === 'object') return count(Object.keys(v).length, 'field');
  return typeof v;
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
