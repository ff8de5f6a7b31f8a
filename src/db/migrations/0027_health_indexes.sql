-- 0027: indexes for the health dashboard (GraphQL systemHealth, issue 16). It reads a tenant's
-- last hour of finished runs (runs per minute, runs in flight) and step attempts (p95 per
-- action); without these, each refresh would scan every run and attempt the tenant keeps.
-- Partial: unfinished rows are few and found through the status indexes.

create index workflow_runs_finished_idx on workflow_runs (tenant_id, finished_at)
  where finished_at is not null;
create index step_runs_finished_idx on step_runs (tenant_id, finished_at)
  where finished_at is not null;
