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

export type Page<T> = { nodes: T[]; endCursor: string | null; hasNextPage: boolean };

/**
 * A connection page from rows fetched with `limit + 1`: the extra row only says there is a
 * next page; the cursor is the key of the last node kept.
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
