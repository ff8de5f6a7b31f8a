import { SwitchyardError } from '../../model/errors.ts';

/** Opaque cursors: base64url of a JSON key (e.g. [createdAt, id]) for keyset pagination. */
export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string | null | undefined): unknown[] | null {
  if (!cursor) return null;
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key)) return key as unknown[];
  } catch {
    // fall through
  }
  throw new SwitchyardError('E_VALIDATION', 'The cursor is not one this API returned.', {
    field: 'after',
  });
}

export const MAX_PAGE_SIZE = 100;

export function pageSize(first: number | null | undefined): number {
  const n = first ?? 20;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) {
    throw new SwitchyardError('E_VALIDATION', `first must be 1 to ${MAX_PAGE_SIZE}.`, {
      field: 'first',
    });
  }
  return n;
}

/** A page of a list: the shape of every list field (`runs`, `workflows`, `apps` …). */
export type Page<T> = { nodes: T[]; endCursor: string | null; hasNextPage: boolean };

/**
 * Cuts `rows` (fetched with limit + 1, so one more row says there is a next page) to a page;
 * `keyOf` gives the keyset of a row, in the order the query sorts by.
 */
export function toPage<T>(rows: T[], limit: number, keyOf: (row: T) => unknown[]): Page<T> {
  const nodes = rows.slice(0, limit);
  const last = nodes[nodes.length - 1];
  return {
    nodes,
    hasNextPage: rows.length > limit,
    endCursor: last ? encodeCursor(keyOf(last)) : null,
  };
}

/** The `after` of a list ordered by (lower(name), id): null, or the key to continue after. */
export function nameCursor(after: string | null | undefined): { name: string; id: string } | null {
  const key = decodeCursor(after);
  if (!key) return null;
  if (key.length !== 2 || typeof key[0] !== 'string' || typeof key[1] !== 'string')
    throw new SwitchyardError('E_VALIDATION', 'The cursor is not one this API returned.', {
      field: 'after',
    });
  return { name: key[0], id: key[1] };
}

/** `search`: trimmed, at most 200 characters; empty means no search. */
export function searchTerm(search: string | null | undefined): string | null {
  const s = search?.trim() ?? '';
  if (s.length > 200)
    throw new SwitchyardError('E_VALIDATION', 'search must be at most 200 characters.', {
      field: 'search',
    });
  return s === '' ? null : s;
}
