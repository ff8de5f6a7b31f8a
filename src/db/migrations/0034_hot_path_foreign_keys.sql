-- 0034: four foreign-key checks fewer per run. workflow_runs, step_runs, jobs and
-- idempotency_keys each referenced tenants (id) directly, and each also references a row of
-- the same tenant through a composite key — (tenant_id, workflow_id) → workflows, or
-- (tenant_id, run_id) → workflow_runs — whose own chain ends at tenants (workflows.tenant_id
-- → tenants, on delete cascade). The composite keys already prove the tenant exists and
-- already carry a tenant's deletion down (tenants → workflows → workflow_runs → step_runs,
-- jobs; workflows → idempotency_keys), so the direct references only added a check per row
-- written: four per run, each a `FOR KEY SHARE` lock on the tenant's one row, taken by every
-- concurrent transaction of that tenant (bench/RESULTS.md, "End to end: issue 13, round three").
alter table workflow_runs drop constraint workflow_runs_tenant_id_fkey;
alter table step_runs drop constraint step_runs_tenant_id_fkey;
alter table jobs drop constraint jobs_tenant_id_fkey;
alter table idempotency_keys drop constraint idempotency_keys_tenant_id_fkey;
