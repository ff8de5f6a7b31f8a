-- 0002: the durable workflow engine (docs/architecture.md, "Run lifecycle").
--
-- * Idempotency keys live in their own table so that they are honoured for their whole TTL
--   whatever retention does to runs; the unique index on workflow_runs gives way to it.
-- * The queue (jobs) gets the index of the fair, per-tenant claim.
-- * The scheduler may advance due cron triggers under the system scope (ids and times only).

drop index workflow_runs_idempotency_key;
create index workflow_runs_idempotency_key_idx
  on workflow_runs (tenant_id, workflow_id, idempotency_key)
  where idempotency_key is not null;

create table idempotency_keys (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  workflow_id uuid not null,
  key text not null check (length(key) between 1 and 500),
  -- sha256 of the canonical input: same hash = duplicate, other hash = conflict.
  input_hash bytea not null,
  -- No foreign key: the key must outlive a run that retention removed before the key expired.
  run_id uuid not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (tenant_id, id),
  unique (tenant_id, workflow_id, key),
  foreign key (tenant_id, workflow_id) references workflows (tenant_id, id) on delete cascade
);
create index idempotency_keys_expiry_idx on idempotency_keys (tenant_id, expires_at);

alter table idempotency_keys enable row level security;
alter table idempotency_keys force row level security;
create policy tenant_isolation on idempotency_keys
  using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id());
grant select, insert, update, delete on idempotency_keys to switchyard_runtime;

-- Fair claiming walks the tenants that have due work (a skip scan over tenant_id), then takes
-- each tenant's oldest due jobs.
create index jobs_tenant_due_idx on jobs (tenant_id, run_at, id) where status = 'pending';

-- The scheduler advances cron_next_fire_at of due triggers across tenants; it reads and
-- writes only ids and times under this scope, and starts runs under the trigger's tenant.
create policy system_scope_cron_update on triggers for update
  using (app_scope_is_system() and kind = 'cron')
  with check (app_scope_is_system() and kind = 'cron');
