/**
 * Kysely as a typed query *builder* only: queries are compiled here and executed on our own
 * pg clients, so they run inside withTenant()'s transaction (RLS setting included).
 */
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Compilable,
} from 'kysely';
import type { Queryable } from './pool.ts';
import type { Database } from './schema.ts';

export const qb = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

export async function run<R>(db: Queryable, query: Compilable<R>): Promise<R[]> {
  const compiled = query.compile();
  const res = await db.query(compiled.sql, compiled.parameters as unknown[]);
  return res.rows as R[];
}

export async function runOne<R>(db: Queryable, query: Compilable<R>): Promise<R | undefined> {
  return (await run(db, query))[0];
}

/** A LIKE pattern matching `search` anywhere, lower-cased, its `%`, `_` and `\` taken literally. */
export function containsPattern(search: string): string {
  return `%${search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Keyset page of a list ordered by (lower(name), id). */
export type NamePage = {
  tenantId: string;
  search: string | null;
  after: { name: string; id: string } | null;
  limit: number;
};
