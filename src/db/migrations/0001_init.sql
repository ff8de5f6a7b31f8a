-- 0001: the whole data model of product.md under row-level security.
--
-- Conventions (see docs/adr/0002-tenant-isolation-by-rls.md):
-- * every tenant table has tenant_id, primary key (tenant_id, id), and composite foreign keys
--   (tenant_id, x_id) so that no row can point into another tenant;
-- * RLS is enabled and FORCED; the policy compares tenant_id to app_tenant_id(), the
--   transaction-local setting written by withTenant();
-- * the runtime login role gets its rights through membership of switchyard_runtime, which
--   owns nothing, is not superuser and has no BYPASSRLS.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'switchyard_runtime') then
    create role switchyard_runtime nologin;
  end if;
end
$$;

grant usage on schema public to switchyard_runtime;

-- The tenant of the current transaction (null when none is set: then no tenant row is visible).
create function app_tenant_id() returns uuid
  language sql stable parallel safe
  as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$;

-- The signed-in user of the current transaction (lets a user list their own memberships).
create function app_user_id() returns uuid
  language sql stable parallel safe
  as $$ select nullif(current_setting('app.user_id', true), '')::uuid $$;

-- True inside withSystem(): engine work that spans tenants (claiming queue jobs, due cron
-- triggers). Only the tables whose policies name it are reachable this way.
create function app_scope_is_system() returns boolean
  language sql stable parallel safe
  as $$ select coalesce(current_setting('app.scope', true), '') = 'system' $$;

create function set_updated_at() returns trigger
  language plpgsql
  as $$
begin
  new.updated_at := now();
  return new;
end
$$;

---------------------------------------------------------------------------------------------
-- Tenants, users, access
---------------------------------------------------------------------------------------------

create table tenants (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  settings jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Users are global identities (a person may belong to several tenants); they carry no tenant
-- data. The runtime role reads them for sign-in.
create table users (
  id uuid primary key default gen_random_uuid(),
  email text not null check (email = lower(email) and position('@' in email) > 1),
  display_name text,
  password_hash text,
  disabled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index users_email_key on users (email);

create table memberships (
  tenant_id uuid not null references tenants (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  role text not null check (role in ('viewer', 'editor', 'admin', 'owner')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, user_id)
);
create index memberships_user_idx on memberships (user_id);

create table invitations (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  email text not null check (email = lower(email)),
  role text not null check (role in ('viewer', 'editor', 'admin', 'owner')),
  token_hash bytea not null,
  invited_by uuid references users (id) on delete set null,
  expires_at timestamptz not null,
  accepted_at timestamptz,
  accepted_by uuid references users (id) on delete set null,
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id)
);
create unique index invitations_token_hash_key on invitations (token_hash);

create table api_tokens (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  role text not null check (role in ('viewer', 'editor', 'admin', 'owner')),
  -- The first characters of the token, shown in lists so that a person can recognise it.
  prefix text not null,
  secret_hash bytea not null,
  created_by uuid references users (id) on delete set null,
  last_used_at timestamptz,
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id)
);
create unique index api_tokens_secret_hash_key on api_tokens (secret_hash);

---------------------------------------------------------------------------------------------
-- Apps, actions, connections
---------------------------------------------------------------------------------------------

create table apps (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  key text not null check (key ~ '^[a-z][a-z0-9_.-]{0,99}$'),
  name text not null,
  base_url text,
  auth_kind text not null default 'none'
    check (auth_kind in ('none', 'api_key', 'bearer', 'basic', 'oauth2_client_credentials')),
  -- Non-secret auth settings, e.g. {"in": "header", "name": "X-Api-Key"} or the token URL.
  auth_config jsonb not null default '{}',
  connection_schema jsonb not null default '{"type": "object"}',
  is_builtin boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, key)
);

create table actions (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  app_id uuid not null,
  key text not null check (key ~ '^[a-z][a-z0-9_.-]{0,99}$'),
  name text not null,
  kind text not null check (kind in ('http', 'javascript', 'python')),
  input_schema jsonb not null default '{"type": "object"}',
  output_schema jsonb not null default '{}',
  -- http: method, path, query, headers, body templates; javascript/python: code.
  implementation jsonb not null,
  retry_strategy text not null default 'exponential'
    check (retry_strategy in ('none', 'fixed', 'exponential')),
  max_attempts integer not null default 3 check (max_attempts between 1 and 100),
  initial_delay_ms integer not null default 1000 check (initial_delay_ms >= 0),
  max_delay_ms integer not null default 60000 check (max_delay_ms >= initial_delay_ms),
  timeout_ms integer not null default 30000 check (timeout_ms between 1 and 3600000),
  rate_limit_requests integer check (rate_limit_requests > 0),
  rate_limit_per_seconds integer check (rate_limit_per_seconds > 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, app_id, key),
  foreign key (tenant_id, app_id) references apps (tenant_id, id) on delete cascade,
  check ((rate_limit_requests is null) = (rate_limit_per_seconds is null))
);

create table connections (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  app_id uuid not null,
  name text not null check (length(name) between 1 and 200),
  config jsonb not null default '{}',
  -- Envelope-encrypted secret fields; write-only through every interface.
  secret_cipher bytea,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, app_id) references apps (tenant_id, id) on delete restrict
);

---------------------------------------------------------------------------------------------
-- Workflows and triggers
---------------------------------------------------------------------------------------------

create table workflows (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  description text not null default '',
  current_version_id uuid,
  archived_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id)
);

-- Immutable once written: runs pin the version they started with.
create table workflow_versions (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  workflow_id uuid not null,
  version integer not null check (version > 0),
  -- {"steps": [{"id", "actionId", "connectionId", "input", "if", "onError"}]}
  definition jsonb not null,
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, workflow_id, version),
  foreign key (tenant_id, workflow_id) references workflows (tenant_id, id) on delete cascade
);

alter table workflows
  add foreign key (tenant_id, current_version_id) references workflow_versions (tenant_id, id)
  deferrable initially deferred;

create table triggers (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  workflow_id uuid not null,
  kind text not null check (kind in ('webhook', 'cron', 'manual')),
  name text not null default '',
  enabled boolean not null default true,
  -- webhook: {"signatureScheme": "standard" | "github" | "stripe"}; cron: {"expression", "timezone"}
  config jsonb not null default '{}',
  webhook_secret_cipher bytea,
  -- The secret before the last rotation stays valid until previous_secret_expires_at.
  previous_webhook_secret_cipher bytea,
  previous_secret_expires_at timestamptz,
  cron_next_fire_at timestamptz,
  cron_last_fired_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, workflow_id) references workflows (tenant_id, id) on delete cascade,
  check (kind <> 'webhook' or webhook_secret_cipher is not null),
  check (kind <> 'cron' or (config ? 'expression'))
);
create index triggers_workflow_idx on triggers (tenant_id, workflow_id);
create index triggers_cron_due_idx on triggers (cron_next_fire_at)
  where kind = 'cron' and enabled;

---------------------------------------------------------------------------------------------
-- Runs, steps, the queue
---------------------------------------------------------------------------------------------

create table workflow_runs (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  workflow_id uuid not null,
  workflow_version_id uuid not null,
  trigger_id uuid,
  idempotency_key text,
  -- sha256 of the canonical input: same key + same hash = duplicate, other hash = conflict.
  input_hash bytea,
  input jsonb not null default '{}',
  status text not null default 'queued'
    check (status in ('queued', 'running', 'succeeded', 'failed', 'canceled', 'dead')),
  output jsonb,
  error jsonb,
  -- W3C traceparent of whatever started the run.
  trace_context text,
  replay_of_run_id uuid,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, workflow_id) references workflows (tenant_id, id) on delete cascade,
  foreign key (tenant_id, workflow_version_id) references workflow_versions (tenant_id, id),
  foreign key (tenant_id, trigger_id) references triggers (tenant_id, id) on delete set null (trigger_id),
  foreign key (tenant_id, replay_of_run_id) references workflow_runs (tenant_id, id)
    on delete set null (replay_of_run_id)
);
create unique index workflow_runs_idempotency_key on workflow_runs (tenant_id, workflow_id, idempotency_key)
  where idempotency_key is not null;
create index workflow_runs_status_time_idx on workflow_runs (tenant_id, status, created_at desc);
create index workflow_runs_workflow_time_idx on workflow_runs (tenant_id, workflow_id, created_at desc);
create index workflow_runs_time_idx on workflow_runs (tenant_id, created_at desc);

-- One row per attempt of one step.
create table step_runs (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  run_id uuid not null,
  step_id text not null,
  step_index integer not null check (step_index >= 0),
  attempt integer not null check (attempt > 0),
  status text not null check (status in ('running', 'succeeded', 'failed', 'skipped', 'canceled')),
  input jsonb,
  output jsonb,
  error_code text,
  error_message text,
  error_retryable boolean,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  primary key (tenant_id, id),
  unique (tenant_id, run_id, step_id, attempt),
  foreign key (tenant_id, run_id) references workflow_runs (tenant_id, id) on delete cascade
);

-- The queue: one row per runnable unit of work (a step of a run). It carries routing data
-- only; everything a tenant wrote stays in the tables above. See docs/adr/0001.
create table jobs (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id bigint generated always as identity,
  run_id uuid not null,
  step_index integer not null check (step_index >= 0),
  -- Attempts started so far; completion is accepted only for the attempt that was claimed.
  attempt integer not null default 0,
  status text not null default 'pending' check (status in ('pending', 'running')),
  run_at timestamptz not null default now(),
  locked_by text,
  lease_expires_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, run_id, step_index),
  foreign key (tenant_id, run_id) references workflow_runs (tenant_id, id) on delete cascade
);
create index jobs_due_idx on jobs (run_at) where status = 'pending';
create index jobs_lease_idx on jobs (lease_expires_at) where status = 'running';
create index jobs_tenant_status_idx on jobs (tenant_id, status);

create table dead_letters (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  run_id uuid not null,
  workflow_id uuid not null,
  failed_step_id text,
  error jsonb not null,
  -- Run context at the time of death: input, outputs of the steps that succeeded.
  context jsonb not null default '{}',
  retry_count integer not null default 0,
  replayed_at timestamptz,
  replay_run_id uuid,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, run_id),
  foreign key (tenant_id, run_id) references workflow_runs (tenant_id, id) on delete cascade,
  foreign key (tenant_id, workflow_id) references workflows (tenant_id, id) on delete cascade
);
create index dead_letters_time_idx on dead_letters (tenant_id, created_at desc);

---------------------------------------------------------------------------------------------
-- Execution logs and access log: high volume, partitioned by day; retention drops partitions.
-- The runtime role is granted the parent only, so a partition cannot be read around RLS.
---------------------------------------------------------------------------------------------

create table execution_logs (
  tenant_id uuid not null,
  id bigint generated always as identity,
  run_id uuid not null,
  step_run_id uuid,
  level text not null check (level in ('debug', 'info', 'warn', 'error')),
  message text not null,
  data jsonb,
  logged_at timestamptz not null default now(),
  primary key (tenant_id, logged_at, id)
) partition by range (logged_at);
create table execution_logs_default partition of execution_logs default;
create index execution_logs_run_idx on execution_logs (tenant_id, run_id, logged_at);

create table access_log (
  tenant_id uuid,
  id bigint generated always as identity,
  actor_kind text not null check (actor_kind in ('user', 'token', 'system', 'anonymous')),
  actor_id text,
  token_id uuid,
  operation_kind text not null,
  operation_name text,
  outcome text not null,
  duration_ms integer,
  ip inet,
  request_id text,
  occurred_at timestamptz not null default now(),
  primary key (occurred_at, id)
) partition by range (occurred_at);
create table access_log_default partition of access_log default;
create index access_log_tenant_idx on access_log (tenant_id, occurred_at desc);

-- Creates the daily partitions of a day-partitioned table from `from_day` for `days` days.
-- SECURITY DEFINER so that the runtime role (which owns nothing) can keep partitions ahead;
-- it only creates empty partitions of the two known tables and reads no data.
create function ensure_daily_partitions(parent regclass, from_day date, days integer)
  returns integer
  language plpgsql security definer set search_path = public, pg_temp
  as $$
declare
  d date;
  made integer := 0;
  part text;
begin
  if parent not in ('execution_logs'::regclass, 'access_log'::regclass) then
    raise exception 'ensure_daily_partitions: % is not a day-partitioned table', parent;
  end if;
  if days < 1 or days > 60 then
    raise exception 'ensure_daily_partitions: days must be 1..60';
  end if;
  for i in 0 .. days - 1 loop
    d := from_day + i;
    part := format('%s_%s', parent::text, to_char(d, 'YYYYMMDD'));
    if to_regclass(part) is null then
      begin
        execute format('create table %I partition of %s for values from (%L) to (%L)',
          part, parent, d::timestamp at time zone 'UTC', (d + 1)::timestamp at time zone 'UTC');
        made := made + 1;
      exception
        when duplicate_table then
          null; -- another process made it first
        when check_violation then
          -- rows for that day already landed in the default partition; they stay there
          -- until retention removes them, and the day simply has no partition of its own.
          raise notice 'ensure_daily_partitions: % has rows in the default partition', part;
      end;
    end if;
  end loop;
  return made;
end
$$;
revoke all on function ensure_daily_partitions(regclass, date, integer) from public;

---------------------------------------------------------------------------------------------
-- Audit events: append-only, hash-chained per tenant
---------------------------------------------------------------------------------------------

create table audit_events (
  tenant_id uuid not null references tenants (id) on delete restrict,
  seq bigint not null,
  id uuid not null default gen_random_uuid(),
  actor_kind text not null check (actor_kind in ('user', 'token', 'system')),
  actor_id text,
  action text not null,
  target_kind text,
  target_id text,
  outcome text not null default 'success' check (outcome in ('success', 'failure')),
  metadata jsonb not null default '{}',
  ip inet,
  request_id text,
  occurred_at timestamptz not null default now(),
  prev_hash bytea not null,
  hash bytea not null,
  primary key (tenant_id, seq),
  unique (tenant_id, id)
);
create index audit_events_time_idx on audit_events (tenant_id, occurred_at desc);

-- The head of each tenant's chain. Locking this row serialises inserts per tenant, so two
-- concurrent events can never both link to the same predecessor (the chain cannot fork).
create table audit_chain_heads (
  tenant_id uuid primary key references tenants (id) on delete restrict,
  last_seq bigint not null,
  last_hash bytea not null
);

-- The hash of one event: sha256 over its fields (fixed order, unambiguous separators) and the
-- previous hash. The verifier (observability/audit-verify.ts) recomputes it with this same function.
create function audit_event_hash(e audit_events) returns bytea
  language sql immutable parallel safe
  as $$
  select sha256(
    convert_to(
      jsonb_build_array(
        e.tenant_id, e.seq, e.id, e.actor_kind, e.actor_id, e.action, e.target_kind,
        e.target_id, e.outcome, e.metadata, host(e.ip), e.request_id,
        to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      )::text,
      'UTF8'
    ) || e.prev_hash
  )
$$;

create function audit_events_chain() returns trigger
  language plpgsql security definer set search_path = public, pg_temp
  as $$
declare
  head audit_chain_heads;
begin
  insert into audit_chain_heads (tenant_id, last_seq, last_hash)
    values (new.tenant_id, 0, '\x'::bytea)
    on conflict (tenant_id) do nothing;
  select * into head from audit_chain_heads where tenant_id = new.tenant_id for update;
  new.seq := head.last_seq + 1;
  new.prev_hash := head.last_hash;
  new.occurred_at := date_trunc('microseconds', coalesce(new.occurred_at, now()));
  new.hash := audit_event_hash(new);
  update audit_chain_heads set last_seq = new.seq, last_hash = new.hash
    where tenant_id = new.tenant_id;
  return new;
end
$$;

create trigger audit_events_chain before insert on audit_events
  for each row execute function audit_events_chain();

create function refuse_change() returns trigger
  language plpgsql
  as $$
begin
  raise exception '% is append-only: % refused', tg_table_name, tg_op
    using errcode = 'insufficient_privilege';
end
$$;

create trigger audit_events_immutable before update or delete on audit_events
  for each row execute function refuse_change();
create trigger audit_events_no_truncate before truncate on audit_events
  for each statement execute function refuse_change();
create trigger workflow_versions_immutable before update on workflow_versions
  for each row execute function refuse_change();

---------------------------------------------------------------------------------------------
-- updated_at maintenance
---------------------------------------------------------------------------------------------

create trigger tenants_updated before update on tenants for each row execute function set_updated_at();
create trigger users_updated before update on users for each row execute function set_updated_at();
create trigger memberships_updated before update on memberships for each row execute function set_updated_at();
create trigger apps_updated before update on apps for each row execute function set_updated_at();
create trigger actions_updated before update on actions for each row execute function set_updated_at();
create trigger connections_updated before update on connections for each row execute function set_updated_at();
create trigger workflows_updated before update on workflows for each row execute function set_updated_at();
create trigger triggers_updated before update on triggers for each row execute function set_updated_at();
create trigger workflow_runs_updated before update on workflow_runs for each row execute function set_updated_at();

---------------------------------------------------------------------------------------------
-- Row-level security
---------------------------------------------------------------------------------------------

alter table tenants enable row level security;
alter table tenants force row level security;
create policy tenant_isolation on tenants
  using (id = app_tenant_id()) with check (id = app_tenant_id());

do $$
declare
  t text;
begin
  foreach t in array array[
    'memberships', 'invitations', 'api_tokens', 'apps', 'actions', 'connections', 'workflows',
    'workflow_versions', 'triggers', 'workflow_runs', 'step_runs', 'jobs', 'dead_letters',
    'execution_logs', 'access_log', 'audit_events', 'audit_chain_heads'
  ] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format(
      'create policy tenant_isolation on %I using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id())',
      t);
  end loop;
end
$$;

-- A signed-in user sees their own memberships in every tenant (to switch tenant).
create policy own_memberships on memberships for select using (user_id = app_user_id());

-- Engine work across tenants: the queue and due cron triggers (withSystem()).
create policy system_scope on jobs using (app_scope_is_system()) with check (app_scope_is_system());
create policy system_scope_cron on triggers for select using (app_scope_is_system() and kind = 'cron');

---------------------------------------------------------------------------------------------
-- Grants: least privilege for the runtime role
---------------------------------------------------------------------------------------------

grant select, insert, update on tenants to switchyard_runtime;
grant select, insert, update on users to switchyard_runtime;
grant select, insert, update, delete on
  memberships, invitations, api_tokens, apps, actions, connections, workflows, triggers,
  workflow_runs, step_runs, jobs, dead_letters
  to switchyard_runtime;
grant select, insert on workflow_versions, execution_logs, access_log, audit_events to switchyard_runtime;
grant execute on function ensure_daily_partitions(regclass, date, integer) to switchyard_runtime;
grant select on schema_migrations to switchyard_runtime;
