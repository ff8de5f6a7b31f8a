import { createHmac } from 'node:crypto';
import pg from 'pg';
import { SwitchyardError } from '../model/errors.ts';
import { startupClient } from './pool.ts';
import type { Logger } from '../observability/logger.ts';

/** The NOLOGIN group role that migrations grant to; login roles get rights by membership. */
export const RUNTIME_GROUP_ROLE = 'switchyard_runtime';
/**
 * The NOLOGIN group whose members may open the system scope (migration 0007). It is a member
 * of RUNTIME_GROUP_ROLE, so its login role has every runtime right as well.
 */
export const SYSTEM_GROUP_ROLE = 'switchyard_system';

const ROLE_LOCK_KEY = 7_242_016_002;

/** The runtime URL: the owner URL with the app role's name and password. */
export function deriveAppUrl(ownerUrl: string, role: string, password: string): string {
  const u = new URL(ownerUrl);
  u.username = role;
  u.password = password;
  return u.toString();
}

/** The system login role that goes with a runtime role: `<runtime>_system`. */
export function systemRoleFor(appRole: string): string {
  const name = `${appRole}_system`;
  if (name.length > 63) throw new Error(`role name ${name} is longer than 63 characters`);
  return name;
}

/**
 * The system role's password when none is configured: derived from the runtime role's, so that
 * one secret (DATABASE_APP_PASSWORD, or the embedded server's) still configures everything.
 * It separates what SQL on each login may do, not who holds the secret: an operator who wants
 * the two secrets apart sets DATABASE_SYSTEM_URL.
 */
export function deriveSystemPassword(appPassword: string): string {
  return createHmac('sha256', appPassword).update('switchyard system role').digest('base64url');
}

/** The system URL derived from a runtime URL: `<user>_system` and the derived password. */
export function deriveSystemUrl(appUrl: string): string {
  const u = new URL(appUrl);
  return deriveAppUrl(
    appUrl,
    systemRoleFor(decodeURIComponent(u.username)),
    deriveSystemPassword(decodeURIComponent(u.password)),
  );
}

type RoleSpec = { role: string; password: string };

/**
 * Creates (or updates the password of) the runtime login role and the system login role when
 * the owner URL has the rights to; otherwise leaves them to the operator (docs/operations.md
 * lists the statements). Works for a superuser and for an owner with CREATEROLE only (managed
 * PostgreSQL), on PostgreSQL 15 and later. Safe to run from several processes at once.
 */
export async function ensureAppRole(
  ownerUrl: string,
  /** system: the system login role; derived from the runtime one when absent; false: none. */
  opts: RoleSpec & { logger: Logger; system?: RoleSpec | false },
): Promise<'created' | 'updated' | 'left-to-operator'> {
  const client = startupClient({
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
        'owner cannot create roles; expecting the runtime and system roles to exist',
      );
      return 'left-to-operator';
    }
    const system = opts.system ?? {
      role: systemRoleFor(opts.role),
      password: deriveSystemPassword(opts.password),
    };
    // Roles are cluster-wide and CREATE/ALTER ROLE race ("tuple concurrently updated") when
    // several processes start at once: serialise on an advisory lock, and retry the rare race
    // between processes migrating different databases of one cluster (locks are per database).
    await client.query('select pg_advisory_lock($1)', [ROLE_LOCK_KEY]);
    const outcome = await retryingRoleRace(() =>
      createOrUpdateRole(client, { ...opts, group: RUNTIME_GROUP_ROLE, superuser: me.rolsuper }),
    );
    if (system) {
      await retryingRoleRace(() =>
        createOrUpdateRole(client, { ...system, group: SYSTEM_GROUP_ROLE, superuser: me.rolsuper }),
      );
    }
    return outcome;
  } finally {
    await client.end();
  }
}

async function retryingRoleRace<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 5 || !isConcurrentRoleChange(err)) throw err;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
}

/**
 * Refuses to serve with a role that would make RLS moot: a superuser, BYPASSRLS, or a member
 * of the role that owns the tables (owners are exempt from RLS unless FORCEd; we FORCE, but
 * an owner could also simply disable it). The runtime role must not be a member of the system
 * group either (tenant code paths could open the system scope); the system role must be one.
 */
export async function assertRuntimeRoleIsSafe(
  db: Pick<pg.Pool, 'query'>,
  opts: { system?: boolean } = {},
): Promise<void> {
  const res = await db.query<{
    rolname: string;
    rolsuper: boolean;
    rolbypassrls: boolean;
    owns: number;
    system: boolean;
  }>(
    `
    select r.rolname, r.rolsuper, r.rolbypassrls,
      (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p')
          and pg_has_role(current_user, c.relowner, 'MEMBER')) as owns,
      case when exists (select 1 from pg_roles where rolname = $1)
        then pg_has_role(current_user, $1, 'USAGE') else false end as system
    from pg_roles r where r.rolname = current_user`,
    [SYSTEM_GROUP_ROLE],
  );
  const me = res.rows[0];
  if (!me)
    throw new SwitchyardError('E_DB_ROLE_PRIVILEGED', 'Cannot read the current database role');
  const which = opts.system ? 'system' : 'runtime';
  const problems = [
    me.rolsuper && 'is a superuser',
    me.rolbypassrls && 'has BYPASSRLS',
    me.owns > 0 && `owns (or is a member of the owner of) ${me.owns} tables`,
    !opts.system && me.system && `is a member of ${SYSTEM_GROUP_ROLE}`,
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new SwitchyardError(
      'E_DB_ROLE_PRIVILEGED',
      `The ${which} database role "${me.rolname}" ${problems.join(', ')}. Use a separate role for ${opts.system ? 'DATABASE_SYSTEM_URL' : 'DATABASE_APP_URL'} (see docs/operations.md).`,
      { role: me.rolname },
    );
  }
  if (opts.system && !me.system) {
    throw new SwitchyardError(
      'E_DB_ROLE_MISCONFIGURED',
      `The system database role "${me.rolname}" is not a member of ${SYSTEM_GROUP_ROLE}: migrate the database, then GRANT ${SYSTEM_GROUP_ROLE} TO ${me.rolname} (see docs/operations.md).`,
      { role: me.rolname },
    );
  }
}

/**
 * CREATE ROLE with no attribute but LOGIN gets the safe defaults (NOSUPERUSER, NOBYPASSRLS,
 * NOCREATEDB, NOCREATEROLE). Only a superuser may even mention SUPERUSER or BYPASSRLS in ALTER
 * ROLE, so an existing role's attributes are read, and a privileged one is fixed only when we
 * can; otherwise it is refused (assertRuntimeRoleIsSafe would refuse it at start anyway).
 */
async function createOrUpdateRole(
  client: pg.Client,
  p: RoleSpec & { group: string; superuser: boolean },
): Promise<'created' | 'updated'> {
  const role = pg.escapeIdentifier(p.role);
  const password = pg.escapeLiteral(p.password);
  const existing = await client.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
    'select rolsuper, rolbypassrls from pg_roles where rolname = $1',
    [p.role],
  );
  const found = existing.rows[0];
  let outcome: 'created' | 'updated' = 'updated';
  if (!found) {
    await client.query(`create role ${role} login password ${password}`);
    outcome = 'created';
  } else {
    if (found.rolsuper || found.rolbypassrls) {
      if (!p.superuser) {
        throw new SwitchyardError(
          'E_DB_ROLE_PRIVILEGED',
          `The database role "${p.role}" is a superuser or has BYPASSRLS, and the owner cannot change that. Drop it or run ALTER ROLE ${p.role} NOSUPERUSER NOBYPASSRLS as a superuser.`,
          { role: p.role },
        );
      }
      await client.query(`alter role ${role} nosuperuser nobypassrls`);
    }
    await client.query(`alter role ${role} with login password ${password}`);
  }
  // From PostgreSQL 16 granting needs ADMIN OPTION on the group, which its creator has; grant
  // only a missing membership so that a role set up by a superuser needs nothing more.
  const member = await client.query(
    `select 1 from pg_auth_members where roleid = $1::regrole and member = $2::regrole`,
    [p.group, p.role],
  );
  if (member.rowCount === 0) {
    await client.query(`grant ${pg.escapeIdentifier(p.group)} to ${role}`);
  }
  return outcome;
}

function isConcurrentRoleChange(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  // 42710 duplicate_object (created meanwhile); XX000 "tuple concurrently updated".
  return code === '42710' || (code === 'XX000' && /concurrently/.test((err as Error).message));
}
