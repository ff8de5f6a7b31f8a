-- 0026: testing a draft before it is published (docs/workflows.md, "Test before publishing").
--
-- * trigger_samples: the last delivery each trigger received (webhook input after header
--   stripping, manual input, cron fire payload), one row per trigger, overwritten by the next
--   one. The payload is scrubbed of known secrets before it is written, and is null when it
--   was larger than the sample limit (size_bytes says how large it was).
-- * workflow_versions.is_test: a test run pins a version like any run (the engine reads steps
--   from the pinned version), so a tested draft is stored as a test version: never listed,
--   never published, numbered like the draft it would become (the unique version number
--   applies to real versions only), deleted by retention once no run uses it.
-- * workflow_runs.is_test: set in the transaction that starts a test run; metrics, dead
--   letters, the default runs list and retention's usual cut-off read it.

create table trigger_samples (
  tenant_id uuid not null references tenants (id) on delete cascade,
  trigger_id uuid not null,
  payload jsonb,
  size_bytes integer not null check (size_bytes >= 0),
  received_at timestamptz not null,
  primary key (tenant_id, trigger_id),
  foreign key (tenant_id, trigger_id) references triggers (tenant_id, id) on delete cascade
);
alter table trigger_samples enable row level security;
alter table trigger_samples force row level security;
create policy tenant_isolation on trigger_samples
  using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id());
grant select, insert, update, delete on trigger_samples to switchyard_runtime;

alter table workflow_versions add column is_test boolean not null default false;
alter table workflow_versions drop constraint workflow_versions_tenant_id_workflow_id_version_key;
create unique index workflow_versions_number_key
  on workflow_versions (tenant_id, workflow_id, version) where not is_test;
create index workflow_versions_test_idx on workflow_versions (tenant_id, created_at) where is_test;
-- Versions stay immutable (no update grant, the refuse_change trigger); only test versions
-- may be deleted, by retention.
grant delete on workflow_versions to switchyard_runtime;
create policy only_test_versions_deleted on workflow_versions as restrictive for delete
  using (is_test);

alter table workflow_runs add column is_test boolean not null default false;
create index workflow_runs_test_idx on workflow_runs (tenant_id, created_at) where is_test;
