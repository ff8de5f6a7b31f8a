-- 0006: data retention (docs/operations.md, "Retention"; docs/adr/0006-retention.md).
--
-- * tenant_settings: a tenant's own retention; null keeps the operator's RETENTION_*_DAYS.
--   Typed, checked columns rather than the free-form tenants.settings: the database refuses a
--   value out of range whatever the writer.
-- * The retention job runs as the runtime role. It lists tenants under the system scope, deletes
--   under each tenant's RLS, and reaches what the runtime role may not touch (old log partitions,
--   old audit events) only through two SECURITY DEFINER functions that enforce floors of their
--   own. The bounds here match src/model/retention.ts (retentionBounds).

create table tenant_settings (
  tenant_id uuid primary key references tenants (id) on delete cascade,
  run_retention_days integer check (run_retention_days between 1 and 3650),
  execution_log_retention_days integer check (execution_log_retention_days between 1 and 3650),
  audit_retention_days integer check (audit_retention_days between 30 and 3650),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create trigger tenant_settings_updated before update on tenant_settings
  for each row execute function set_updated_at();

alter table tenant_settings enable row level security;
alter table tenant_settings force row level security;
create policy tenant_isolation on tenant_settings
  using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id());
grant select, insert, update on tenant_settings to switchyard_runtime;

-- Retention visits every tenant: the system scope may list tenants (id and name, nothing a
-- tenant's members wrote). Each tenant's data is then removed in withTenant().
create policy system_scope_retention on tenants for select using (app_scope_is_system());

-- A tenant's execution-log retention shorter than the operator's is a batched delete (under RLS).
grant delete on execution_logs to switchyard_runtime;

-- Sessions that ended long ago are deleted (sessions belong to users, not tenants).
grant delete on sessions to switchyard_runtime;
create index sessions_expires_idx on sessions (expires_at);

---------------------------------------------------------------------------------------------
-- Audit events: still append-only, except for purging the oldest end of a tenant's chain
---------------------------------------------------------------------------------------------

-- UPDATE is always refused. DELETE passes only inside purge_audit_events() (which turns
-- switchyard.audit_purge on around its own delete), only for a role that owns the table
-- (the runtime role has no DELETE right anyway), and only for events older than 30 days.
-- (First released with `set switchyard.audit_purge = 'on'` in the function's SET clause, which
-- only a superuser may create: see acceptedEarlierChecksums in src/db/migrate.ts and 0007.)
create function audit_events_guard() returns trigger
  language plpgsql
  as $$
begin
  if tg_op = 'DELETE'
     and current_setting('switchyard.audit_purge', true) = 'on'
     and pg_has_role(current_user, (select relowner from pg_class where oid = tg_relid), 'MEMBER')
     and old.occurred_at < now() - interval '30 days' then
    return old;
  end if;
  raise exception '% is append-only: % refused', tg_table_name, tg_op
    using errcode = 'insufficient_privilege';
end
$$;

drop trigger audit_events_immutable on audit_events;
create trigger audit_events_immutable before update or delete on audit_events
  for each row execute function audit_events_guard();

-- Deletes up to p_limit of the current tenant's oldest audit events, all older than
-- p_keep_days (by the database's clock). It removes a prefix of the chain only: everything
-- before the first event younger than the cutoff, lowest seq first, so what remains is an
-- unbroken tail whose first event anchors verification (observability/audit.ts). It refuses
-- another tenant, fewer than 30 days, and fewer days than the tenant's own setting.
create function purge_audit_events(p_tenant_id uuid, p_keep_days integer, p_limit integer)
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
revoke all on function purge_audit_events(uuid, integer, integer) from public;
grant execute on function purge_audit_events(uuid, integer, integer) to switchyard_runtime;

---------------------------------------------------------------------------------------------
-- Log partitions: dropped whole, one day at a time
---------------------------------------------------------------------------------------------

-- Drops the partition of `day` of a day-partitioned table (made by ensure_daily_partitions).
-- Refuses a day that is not wholly older than the floor (execution_logs 1 day, access_log 30).
-- Dropping a partition locks the parent briefly: lock_timeout keeps a busy parent from queuing
-- every insert behind us; 'busy' means "try again next time". Returns dropped, missing or busy.
create function drop_daily_partition(parent regclass, day date)
  returns text
  language plpgsql security definer
  set search_path = public, pg_temp
  set lock_timeout = '2s'
  as $$
declare
  floor_days integer;
  part text;
begin
  if parent = 'execution_logs'::regclass then
    floor_days := 1;
  elsif parent = 'access_log'::regclass then
    floor_days := 30;
  else
    raise exception 'drop_daily_partition: % is not a day-partitioned table', parent;
  end if;
  if day is null or day + 1 > (now() at time zone 'UTC')::date - floor_days then
    raise exception 'drop_daily_partition: % of % is within the % day floor', day, parent, floor_days
      using errcode = 'invalid_parameter_value';
  end if;
  part := format('%s_%s', parent::text, to_char(day, 'YYYYMMDD'));
  begin
    -- Two callers dropping the same day: the second waits here, then finds it gone.
    perform pg_advisory_xact_lock(7242016, hashtext(part));
    if not exists (select 1 from pg_inherits i
                    where i.inhparent = parent and i.inhrelid = to_regclass(part)) then
      return 'missing';
    end if;
    execute format('drop table %I', part);
  exception
    when lock_not_available then
      return 'busy';
  end;
  return 'dropped';
end
$$;
revoke all on function drop_daily_partition(regclass, date) from public;
grant execute on function drop_daily_partition(regclass, date) to switchyard_runtime;
