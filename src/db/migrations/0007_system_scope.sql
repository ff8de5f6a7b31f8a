-- 0007: the system scope becomes a boundary; users and sessions get row security; the owner
-- need not be a superuser (docs/adr/0008-system-scope.md).
--
-- Pattern for a table added after this migration (unchanged from 0001-0006):
-- * a tenant table: tenant_id, ENABLE + FORCE row level security, a `tenant_isolation` policy
--   on app_tenant_id(), and grants to switchyard_runtime. That is all: the system login role is
--   a member of switchyard_runtime, so it gets the same rights, and tenant work on it stays
--   under the tenant policy.
-- * engine work across tenants on the new table: a policy
--     create policy system_scope on t to switchyard_system
--       using ((select app_scope_is_system())) with check ((select app_scope_is_system()));
--   app_scope_is_system() is true only for a member of switchyard_system (below), so the
--   runtime role can never open such a policy by setting app.scope, even one written the old
--   way (`using (app_scope_is_system())`, no TO). `to switchyard_system` keeps it out of the
--   runtime role's plans; `(select ...)` evaluates it once per statement instead of per row.
-- * a function that must reach across tenants for the runtime role: SECURITY DEFINER, doing one
--   thing, `set search_path = public, pg_temp`, `revoke all ... from public`, granted to
--   switchyard_runtime, and listed in test/integration/rls-isolation.test.ts after review.
--   Never put a custom setting (`set switchyard.x = ...`) in its SET clause: only a superuser
--   may create such a function (call set_config() in the body instead).

---------------------------------------------------------------------------------------------
-- The system group: engine, scheduler, retention and key rotation log in as a member of it
---------------------------------------------------------------------------------------------

-- NOLOGIN like switchyard_runtime; the system login role (ensureAppRole, or the operator)
-- becomes a member. It is itself a member of switchyard_runtime, so every grant made to
-- switchyard_runtime, now or by a later migration, also holds for system work. Roles are
-- cluster-wide: they may exist already (another database of the cluster), and granting a role
-- needs ADMIN OPTION on it from PostgreSQL 16 on, so grant only what is missing.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'switchyard_system') then
    create role switchyard_system nologin;
  end if;
  if not exists (
    select 1 from pg_auth_members
     where roleid = 'switchyard_runtime'::regrole and member = 'switchyard_system'::regrole
  ) then
    grant switchyard_runtime to switchyard_system;
  end if;
end
$$;

-- The scope setting alone opened the system policies, and any role may set any app.* setting.
-- Now the role must also be a member of switchyard_system: for the runtime role the answer is
-- false whatever it sets. Every policy written against this function (0001-0006, and later
-- ones that follow the old pattern) is closed this way without being rewritten. The setting is
-- tested first so that tenant requests never reach pg_has_role().
create or replace function app_scope_is_system() returns boolean
  language sql stable parallel safe
  as $$
    select coalesce(current_setting('app.scope', true), '') = 'system'
      and pg_has_role('switchyard_system', 'USAGE')
  $$;

-- The existing system policies apply to the system group only (the runtime role's queries do
-- not carry them at all), and call the function once per statement, not once per row: a
-- scalar subquery `(select app_scope_is_system())` is planned as an InitPlan. Per row, the
-- pg_has_role() test halved the claim's throughput (docs/adr/0008-system-scope.md).
alter policy system_scope on jobs to switchyard_system
  using ((select app_scope_is_system())) with check ((select app_scope_is_system()));
alter policy system_scope_cron on triggers to switchyard_system
  using ((select app_scope_is_system()) and kind = 'cron');
alter policy system_scope_cron_update on triggers to switchyard_system
  using ((select app_scope_is_system()) and kind = 'cron')
  with check ((select app_scope_is_system()) and kind = 'cron');
alter policy system_scope_webhook on triggers to switchyard_system
  using ((select app_scope_is_system()) and kind = 'webhook');
alter policy system_scope_read on tenant_data_keys to switchyard_system
  using ((select app_scope_is_system()));
alter policy system_scope_retention on tenants to switchyard_system
  using ((select app_scope_is_system()));

---------------------------------------------------------------------------------------------
-- Users: no password hash for the runtime role, and only the users it has a reason to see
---------------------------------------------------------------------------------------------

-- ENABLE without FORCE: the owner (and so the SECURITY DEFINER functions below, which it owns)
-- is exempt; the runtime role, which owns nothing, is not.
alter table users enable row level security;

-- A signed-in user reads (and may update) their own row.
create policy own_user on users
  using (id = app_user_id()) with check (id = app_user_id());
-- A tenant's members are visible in that tenant (member lists show their email).
create policy tenant_members on users for select
  using (exists (select 1 from memberships m
                  where m.user_id = users.id and m.tenant_id = app_tenant_id()));

-- Every column but the password hash; inserts go through ensure_user(), password changes
-- through set_user_password().
revoke all on users from switchyard_runtime;
grant select (id, email, display_name, disabled_at, created_at, updated_at) on users
  to switchyard_runtime;
grant update (display_name) on users to switchyard_runtime;

-- Sign-in: the one user with exactly this email, with the password hash to verify.
create function user_for_sign_in(p_email text)
  returns table (id uuid, email text, display_name text, password_hash text, disabled_at timestamptz)
  language sql stable security definer
  set search_path = public, pg_temp
  as $$
    select u.id, u.email, u.display_name, u.password_hash, u.disabled_at
      from users u where u.email = p_email
  $$;

-- Invitations and new tenants: the user with this email, created (without a password) if new.
create function ensure_user(p_email text)
  returns table (id uuid, email text, display_name text)
  language sql security definer
  set search_path = public, pg_temp
  as $$
    insert into users as u (email) values (p_email)
      on conflict (email) do update set email = excluded.email
      returning u.id, u.email, u.display_name
  $$;

-- First-start setup: are there users at all (a count, nothing else).
create function count_users() returns integer
  language sql stable security definer
  set search_path = public, pg_temp
  as $$ select count(*)::int from users $$;

-- Sets a password: the signed-in user's own, or the first one of an account that has none
-- (setup, an accepted invitation). Any other account is refused.
create function set_user_password(p_user_id uuid, p_hash text) returns void
  language plpgsql security definer
  set search_path = public, pg_temp
  as $$
begin
  update users set password_hash = p_hash
   where id = p_user_id and (id = app_user_id() or password_hash is null);
  if not found then
    raise exception 'set_user_password: not this user''s password to set'
      using errcode = 'insufficient_privilege';
  end if;
end
$$;

---------------------------------------------------------------------------------------------
-- Sessions: a user's own, or one found by the hash of its secret
---------------------------------------------------------------------------------------------

alter table sessions enable row level security;
create policy own_sessions on sessions
  using (user_id = app_user_id()) with check (user_id = app_user_id());

-- Each request: the live session with that secret hash (not revoked, not expired), whose
-- last_seen_at moves at most once a minute.
create function touch_session(p_token_hash bytea)
  returns table (id uuid, user_id uuid, current_tenant_id uuid, expires_at timestamptz,
                 revoked_at timestamptz)
  language sql security definer
  set search_path = public, pg_temp
  as $$
    with live as (
      select s.id, s.user_id, s.current_tenant_id, s.expires_at, s.revoked_at, s.last_seen_at
        from sessions s
       where s.token_hash = p_token_hash and s.revoked_at is null and s.expires_at > now()
    ), touched as (
      update sessions s set last_seen_at = now() from live
       where s.id = live.id and live.last_seen_at < now() - interval '1 minute'
    )
    select live.id, live.user_id, live.current_tenant_id, live.expires_at, live.revoked_at
      from live
  $$;

-- Sign-out: the session with this id (ids are never listed to anyone but their user).
create function revoke_session(p_id uuid) returns void
  language sql security definer
  set search_path = public, pg_temp
  as $$ update sessions set revoked_at = now() where id = p_id and revoked_at is null $$;

-- Retention: sessions that expired before p_before (never a future time) are unusable; they
-- are counted or deleted, nothing is returned.
create function count_expired_sessions(p_before timestamptz) returns integer
  language sql stable security definer
  set search_path = public, pg_temp
  as $$ select count(*)::int from sessions where expires_at < least(p_before, now()) $$;

create function purge_expired_sessions(p_before timestamptz, p_limit integer) returns integer
  language plpgsql security definer
  set search_path = public, pg_temp
  as $$
declare
  n integer;
begin
  if p_limit is null or p_limit < 1 or p_limit > 100000 then
    raise exception 'purge_expired_sessions: limit must be 1..100000'
      using errcode = 'invalid_parameter_value';
  end if;
  delete from sessions where id in (
    select id from sessions where expires_at < least(p_before, now()) limit p_limit);
  get diagnostics n = row_count;
  return n;
end
$$;

revoke all on sessions from switchyard_runtime;
grant select, insert on sessions to switchyard_runtime;
grant update (current_tenant_id, last_seen_at, revoked_at) on sessions to switchyard_runtime;

do $$
declare
  f text;
begin
  foreach f in array array[
    'user_for_sign_in(text)', 'ensure_user(text)', 'count_users()',
    'set_user_password(uuid, text)', 'touch_session(bytea)', 'revoke_session(uuid)',
    'count_expired_sessions(timestamptz)', 'purge_expired_sessions(timestamptz, integer)'
  ] loop
    execute format('revoke all on function %s from public', f);
    execute format('grant execute on function %s to switchyard_runtime', f);
  end loop;
end
$$;

---------------------------------------------------------------------------------------------
-- purge_audit_events without a SET clause on a custom setting
---------------------------------------------------------------------------------------------

-- 0006 as first released set switchyard.audit_purge in the function's SET clause, which only a
-- superuser may write ("permission denied to set parameter"). 0006 now sets it in the body
-- (see src/db/migrate.ts, acceptedEarlierChecksums); this replaces the function in databases
-- that applied the first version. set_config(..., true) is transaction-local and is turned off
-- again before returning, so the audit guard opens for this function's delete only.
create or replace function purge_audit_events(p_tenant_id uuid, p_keep_days integer, p_limit integer)
  returns integer
  language plpgsql security definer
  set search_path = public, pg_temp
  as $$
declare
  kept_at_least integer;
  cutoff timestamptz;
  boundary bigint;
  purged integer;
begin
  if p_tenant_id is null or p_tenant_id is distinct from app_tenant_id() then
    raise exception 'purge_audit_events: only the current tenant''s events can be purged'
      using errcode = 'insufficient_privilege';
  end if;
  kept_at_least := greatest(30, coalesce(
    (select audit_retention_days from tenant_settings where tenant_id = p_tenant_id), 30));
  if p_keep_days is null or p_keep_days < kept_at_least then
    raise exception 'purge_audit_events: this tenant''s audit events are kept at least % days', kept_at_least
      using errcode = 'invalid_parameter_value';
  end if;
  if p_limit is null or p_limit < 1 or p_limit > 10000 then
    raise exception 'purge_audit_events: limit must be 1..10000' using errcode = 'invalid_parameter_value';
  end if;
  cutoff := now() - make_interval(days => p_keep_days);
  select seq into boundary from audit_events
   where tenant_id = p_tenant_id and occurred_at >= cutoff
   order by seq limit 1;
  perform set_config('switchyard.audit_purge', 'on', true);
  delete from audit_events
   where tenant_id = p_tenant_id and seq in (
     select seq from audit_events
      where tenant_id = p_tenant_id and seq < coalesce(boundary, 9223372036854775807)
      order by seq limit p_limit);
  get diagnostics purged = row_count;
  perform set_config('switchyard.audit_purge', 'off', true);
  return purged;
end
$$;
