-- 0003: envelope encryption keys (docs/security.md, docs/adr/0004-envelope-encryption.md).
--
-- Key hierarchy: KEK (key-encryption key, held by the key provider: local master key or Vault
-- Transit) -> one data key per tenant and version, stored here only wrapped by the KEK ->
-- AES-256-GCM ciphertexts in connections.secret_cipher and the triggers' webhook secret columns.
-- No plaintext key is ever written to the database.

-- Instance-level record of the KEK versions Switchyard has used: written by `keys rotate` and
-- `keys retire`. Holds no key material.
create table kek_versions (
  kek_id text not null check (length(kek_id) between 1 and 300),
  version integer not null check (version > 0),
  provider text not null check (provider in ('local', 'vault')),
  status text not null default 'active' check (status in ('active', 'retired')),
  created_at timestamptz not null default now(),
  retired_at timestamptz,
  primary key (kek_id, version),
  check ((status = 'retired') = (retired_at is not null))
);

create table tenant_data_keys (
  tenant_id uuid not null references tenants (id) on delete cascade,
  -- Named in every ciphertext's header (16 bytes), so a record finds its key by primary key.
  id uuid not null default gen_random_uuid(),
  -- 1, 2, ... per tenant: the order in which the tenant's data keys were made.
  version integer not null check (version > 0),
  -- The data key wrapped by the KEK: local = format byte, KEK version, nonce, ciphertext, tag;
  -- vault = the Transit ciphertext string ("vault:vN:...") as UTF-8 bytes.
  wrapped_key bytea not null,
  kek_id text not null,
  kek_version integer not null check (kek_version > 0),
  -- active: encrypts new secrets (one per tenant); retired: decrypts old ones until
  -- `keys reencrypt` moves them to the active key and destroys it.
  status text not null default 'active' check (status in ('active', 'retired')),
  created_at timestamptz not null default now(),
  rewrapped_at timestamptz,
  primary key (tenant_id, id),
  unique (tenant_id, version)
);
create unique index tenant_data_keys_one_active on tenant_data_keys (tenant_id)
  where status = 'active';
create index tenant_data_keys_kek_idx on tenant_data_keys (kek_id, kek_version);

alter table tenant_data_keys enable row level security;
alter table tenant_data_keys force row level security;
create policy tenant_isolation on tenant_data_keys
  using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id());
-- Rotation spans tenants: withSystem() may *read* which tenants hold keys under an old KEK
-- version (rows hold wrapped keys only). Re-wrapping itself runs per tenant in withTenant().
create policy system_scope_read on tenant_data_keys for select using (app_scope_is_system());

grant select, insert, update, delete on tenant_data_keys to switchyard_runtime;
grant select, insert, update on kek_versions to switchyard_runtime;
