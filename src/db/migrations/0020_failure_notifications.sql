-- 0020: failure notifications. A tenant configures, per workflow or for all of them, an email
-- address or an outgoing webhook to tell when runs fail or go dead. The worker's notifier
-- (src/notify/) counts the failures finished since `counted_until` and, at most once per
-- `min_interval_minutes`, queues one notice with the count in notification_outbox, which it
-- delivers with retries. Nothing here runs inside a run's transaction: a slow mail server or
-- webhook never holds up a run.

create table failure_notifications (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  -- null: every workflow of the tenant
  workflow_id uuid,
  channel text not null check (channel in ('email', 'webhook')),
  target text not null check (length(target) between 3 and 2000),
  -- The webhook's HMAC key, sealed like the other secrets (data-keys.ts cipherColumns).
  signing_secret_cipher bytea,
  min_interval_minutes integer not null default 15 check (min_interval_minutes between 1 and 1440),
  -- Failures finished after this are not counted in a notice yet.
  counted_until timestamptz not null default now(),
  last_sent_at timestamptz,
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, workflow_id) references workflows (tenant_id, id) on delete cascade,
  check ((channel = 'webhook') = (signing_secret_cipher is not null))
);

create table notification_outbox (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  notification_id uuid not null,
  -- {workflowId, workflowName, count, since, until, runIds}
  payload jsonb not null,
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  delivered_at timestamptz,
  failed_at timestamptz,
  last_error text,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, notification_id) references failure_notifications (tenant_id, id)
    on delete cascade
);
create index notification_outbox_due_idx on notification_outbox (tenant_id, next_attempt_at)
  where delivered_at is null and failed_at is null;

do $$
declare
  t text;
begin
  foreach t in array array['failure_notifications', 'notification_outbox'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format(
      'create policy tenant_isolation on %I using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id())',
      t);
  end loop;
end
$$;

grant select, insert, update, delete on failure_notifications, notification_outbox
  to switchyard_runtime;
