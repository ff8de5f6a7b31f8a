-- 0004: shared state of the step runner: GCRA rate limits and circuit breakers.
--
-- Both are small, hot rows updated by every worker; each update is one atomic statement
-- (insert ... on conflict do update ... returning) so that no read-modify-write race exists.
-- Times are the database's clock (now()): workers with skewed clocks still agree.

-- GCRA: one theoretical arrival time per (tenant, key); key is e.g. 'action:<uuid>'.
create table rate_limits (
  tenant_id uuid not null references tenants (id) on delete cascade,
  key text not null check (length(key) between 1 and 200),
  tat timestamptz not null,
  primary key (tenant_id, key)
);

-- One breaker per (tenant, external host, connection); connection_key is '' without one.
create table circuit_breakers (
  tenant_id uuid not null references tenants (id) on delete cascade,
  host text not null check (length(host) between 1 and 300),
  connection_key text not null default '',
  state text not null default 'closed' check (state in ('closed', 'open', 'half_open')),
  failures integer not null default 0 check (failures >= 0),
  -- open: the end of the cool-down; half_open: the end of the probe's lease.
  open_until timestamptz,
  opened_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, host, connection_key)
);
create index circuit_breakers_not_closed_idx on circuit_breakers (tenant_id) where state <> 'closed';

alter table rate_limits enable row level security;
alter table rate_limits force row level security;
create policy tenant_isolation on rate_limits
  using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id());

alter table circuit_breakers enable row level security;
alter table circuit_breakers force row level security;
create policy tenant_isolation on circuit_breakers
  using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id());

grant select, insert, update, delete on rate_limits, circuit_breakers to switchyard_runtime;
