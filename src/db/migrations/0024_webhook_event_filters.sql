-- 0024: provider presets and event filters on webhook triggers (docs/workflows.md, "Triggers").
-- A webhook trigger may list the events it runs for (config.events, e.g. ["issues.opened"]);
-- a verified delivery of another event is answered 2xx and counted here, per trigger and event,
-- instead of starting a run: bounded by the kinds of events a provider sends, not by traffic.
create table webhook_filtered_events (
  tenant_id uuid not null references tenants (id) on delete cascade,
  trigger_id uuid not null,
  event text not null check (length(event) between 1 and 200),
  deliveries bigint not null default 1,
  last_delivery_id text,
  first_received_at timestamptz not null default now(),
  last_received_at timestamptz not null default now(),
  primary key (tenant_id, trigger_id, event),
  foreign key (tenant_id, trigger_id) references triggers (tenant_id, id) on delete cascade
);

alter table webhook_filtered_events enable row level security;
alter table webhook_filtered_events force row level security;
create policy tenant_isolation on webhook_filtered_events
  using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id());

grant select, insert, update, delete on webhook_filtered_events to switchyard_runtime;
