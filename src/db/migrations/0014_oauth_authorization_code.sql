-- 0014: OAuth 2.0 authorization code with PKCE (docs/workflows.md, "Auth kinds"; docs/security.md).
-- An app may authenticate with `oauth2_authorization_code`; its connections hold client id and
-- secret and, once granted, the access and refresh tokens — all inside secret_cipher, sealed like
-- every secret. A connection whose refresh the provider refused needs the user to connect again.

alter table apps drop constraint apps_auth_kind_check;
alter table apps add constraint apps_auth_kind_check check (auth_kind in
  ('none', 'api_key', 'bearer', 'basic', 'oauth2_client_credentials', 'oauth2_authorization_code'));

alter table connections
  add column status text not null default 'active' check (status in ('active', 'needs_reauth')),
  add column status_reason text;

-- One row per authorization request ("Connect"): the `state` is stored only as its SHA-256,
-- bound to the user and session that started it and to the tenant (row security); the PKCE
-- code_verifier is sealed by the secret box (field oauth_states.verifier_cipher). Single use
-- (used_at) and short-lived (expires_at); each Connect deletes its tenant's rows expired a day ago.
create table oauth_states (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  state_hash bytea not null,
  -- No foreign keys to users and sessions (their own row security, not the tenant's): the
  -- callback compares both with the signed-in session, and a row outlives neither for long.
  user_id uuid not null,
  session_id uuid not null,
  connection_id uuid not null,
  verifier_cipher bytea not null,
  redirect_uri text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  primary key (tenant_id, id),
  foreign key (tenant_id, connection_id) references connections (tenant_id, id) on delete cascade
);
create unique index oauth_states_state_hash_key on oauth_states (state_hash);
create index oauth_states_expires_idx on oauth_states (tenant_id, expires_at);

alter table oauth_states enable row level security;
alter table oauth_states force row level security;
create policy tenant_isolation on oauth_states
  using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id());

grant select, insert, update, delete on oauth_states to switchyard_runtime;
