import pg from 'pg';
import { SwitchyardError } from '../model/errors.ts';
import type { Logger } from '../observability/logger.ts';

/** The NOLOGIN group role that migrations grant to; login roles get rights by membership. */
export const RUNTIME_GROUP_ROLE = 'switchyard_runtime';

const ROLE_LOCK_KEY = 7_242_016_002;

/** The runtime URL: the owner URL with the app role's name and password. */
export function deriveAppUrl(ownerUrl: string, role: string, password: string): string {
  const u = new URL(ownerUrl);
  u.username = role;
  u.password = password;
  return u.toString();
}

/**
 * Creates (or updates the password of) the runtime login role when the owner URL has the
 * rights to; otherwise leaves it to the operator (docs/operations.md lists the statements).
 * Safe to run from several processes at once.
 */
export async function ensureAppRole(
  ownerUrl: string,
  opts: { role: string; password: string; logger: Logger },
): Promise<'created' | 'updated' | 'left-to-operator'> {
  const client = new pg.Client({
    connectionString: ownerUrl,
    application_name: 'switchyard-roles',
  });
  await client.connect();
  try {
    const rights = await client.query<{ rolsuper: boolean; rolcreaterole: boolean }>(
      'select rolsuper, rolcreaterole from pg_roles where rolname = current_user',
    );
    const me = rights.rows[0];
    if (!me || (!me.rolsuper && !me.rolcreaterole)) {
      opts.logger.info(
        { role: opts.role },
        'owner cannot create roles; expecting the runtime role to exist',
      );
      return 'left-to-operator';
    }
    // Roles are cluster-wide and CREATE/ALTER ROLE race ("tuple concurrently updated") when
    // several processes start at once: serialise on an advisory lock, and retry the rare race
    // between processes migrating different databases of one cluster (locks are per database).
    await client.query('select pg_advisory_lock($1)', [ROLE_LOCK_KEY]);
    let outcome: 'created' | 'updated' = 'updated';
    for (let attempt = 1; ; attempt++) {
      try {
        outcome = await createOrUpdateRole(client, opts.role, opts.password);
        break;
      } catch (err) {
        if (attempt >= 5 || !isConcurrentRoleChange(err)) throw err;
        await new Promise((r) => setTimeout(r, 20 * attempt));
      }
    }
    return outcome;
  } finally {
    await client.end();
  }
}

/**
 * Refuses to serve with a role that would make RLS moot: a superuser, BYPASSRLS, or a member
 * of the role that owns the tables (owners are exempt from RLS unless FORCEd; we FORCE, but
 * an owner could also simply disable it).
 */
export async function assertRuntimeRoleIsSafe(db: Pick<pg.Pool, 'query'>): Promise<void> {
  const res = await db.query<{
    rolname: string;
    rolsuper: boolean;
    rolbypassrls: boolean;
    owns: number;
  }>(`
    select r.rolname, r.rolsuper, r.rolbypassrls,
      (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p')
          and pg_has_role(current_user, c.relowner, 'MEMBER')) as owns
    from pg_roles r where r.rolname = current_user`);
  const me = res.rows[0];
  if (!me)
    throw new SwitchyardError('E_DB_ROLE_PRIVILEGED', 'Cannot read the current database role');
  const problems = [
    me.rolsuper && 'is a superuser',
    me.rolbypassrls && 'has BYPASSRLS',
    me.owns > 0 && `owns (or is a member of the owner of) ${me.owns} tables`,
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new SwitchyardError(
      'E_DB_ROLE_PRIVILEGED',
      `The runtime database role "${me.rolname}" ${problems.join(', ')}. Use a separate role for DATABASE_APP_URL (see docs/operations.md).`,
      { role: me.rolname },
    );
  }
}

async function createOrUpdateRole(
  client: pg.Client,
  name: string,
  secret: string,
): Promise<'created' | 'updated'> {
  const role = pg.escapeIdentifier(name);
  const password = pg.escapeLiteral(secret);
  const exists = await client.query('select 1 from pg_roles where rolname = $1', [name]);
  let outcome: 'created' | 'updated' = 'updated';
  if (exists.rowCount === 0) {
    await client.query(
      `create role ${role} login password ${password} nosuperuser nobypassrls nocreatedb nocreaterole`,
    );
    outcome = 'created';
  }
  await client.query(`alter role ${role} with login password ${password} nosuperuser nobypassrls`);
  await client.query(`grant ${pg.escapeIdentifier(RUNTIME_GROUP_ROLE)} to ${role}`);
  return outcome;
}

function isConcurrentRoleChange(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  // 42710 duplicate_object (created meanwhile); XX000 "tuple concurrently updated".
  return code === '42710' || (code === 'XX000' && /concurrently/.test((err as Error).message));
}
