-- 0005: what the product API needs: browser sessions, sign-in throttling, webhook routing.

-- A browser session belongs to a user (not to a tenant): it is found by the hash of its
-- cookie secret and carries the tenant the user is working in.
create table sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  token_hash bytea not null,
  current_tenant_id uuid references tenants (id) on delete set null,
  ip inet,
  user_agent text,
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz
);
create unique index sessions_token_hash_key on sessions (token_hash);
create index sessions_user_idx on sessions (user_id);

-- Failed sign-ins per key ('email:…' or 'ip:…') in the current window, shared by every API
-- process so that a brute force cannot spread its attempts across processes.
create table sign_in_failures (
  key text primary key,
  window_started_at timestamptz not null,
  failures integer not null,
  locked_until timestamptz
);

grant select, insert, update on sessions to switchyard_runtime;
grant select, insert, update, delete on sign_in_failures to switchyard_runtime;

-- Webhook ingress knows only the trigger id in the URL: the system scope may read webhook
-- triggers (id, tenant, enabled, secret ciphers bound to their tenant by AEAD) to route it.
create policy system_scope_webhook on triggers for select
  using (app_scope_is_system() and kind = 'webhook');

-- A signed-in user sees the names of the tenants they belong to (to switch tenant).
create policy member_tenants on tenants for select
  using (exists (select 1 from memberships m where m.tenant_id = tenants.id and m.user_id = app_user_id()));

-- Requests with no tenant (failed sign-ins, rejected webhooks) are still recorded; such rows
-- can be written by the runtime role but read by no tenant (operators read them as owner).
create policy anonymous_entries on access_log for insert with check (tenant_id is null);
