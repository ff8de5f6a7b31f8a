/** The shapes AdminLogTable takes: its filters, columns and the page fetch it calls. */
export type LogFilter = {
  key: string;
  label: string;
  kind?: 'text' | 'select' | 'combobox';
  items?: Array<string | { title: string; value: string }>;
  placeholder?: string;
};
export type LogColumn<R> = {
  key: string;
  label: string;
  text: (row: R) => string;
  code?: boolean;
  small?: boolean;
  time?: boolean;
};
/** The filters' values (trimmed, empty as null), the time range as ISO times, and the page. */
export type LogQuery = {
  values: Record<string, string | null>;
  from: string | null;
  to: string | null;
  after: string | null;
  first: number;
};
export type LogPage<R> = { nodes: R[]; endCursor: string | null; hasNextPage: boolean };

/**
 * An actor filter's value: `user:<id>` for a member, `kind:<kind>` for every actor of a kind,
 * or what was typed (an id) — split into the API's actorKind and actorId.
 */
export function actorFilter<K extends string>(
  v: string | null,
  kinds: readonly K[],
): { actorKind: K | null; actorId: string | null } {
  if (!v) return { actorKind: null, actorId: null };
  const kind = (k: string) => kinds.find((x) => x === k) ?? null;
  if (v.startsWith('user:')) return { actorKind: kind('user'), actorId: v.slice(5) };
  if (v.startsWith('kind:')) return { actorKind: kind(v.slice(5)), actorId: null };
  return { actorKind: null, actorId: v };
}
