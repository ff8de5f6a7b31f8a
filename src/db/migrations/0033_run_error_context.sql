-- 0033: what a version-2 run carries while it handles a failure (src/engine/outcome.ts), and
-- the jobs of waiting runs: their own status, and the system scope's view of waiting steps.
--
-- `error_context`: the failure `{{ error }}` names ({ code, message, stepId }) after an
-- `onError: { goto }` took it over, and on the `onFailure` path. Kept on the run (not only in
-- the worker's memory) because the steps after it may run on another worker.
--
-- `pending_end`: while the `onFailure` path runs, how the run ends once it is done —
-- { status: 'failed' | 'dead', error, deadLetter } — the ORIGINAL status and error, and the
-- dead letter written then.
alter table workflow_runs
  add column error_context jsonb,
  add column pending_end jsonb;

-- The waiting-runs gauge (observability/queue-gauges.ts) counts waiting StepRuns across
-- tenants in the system scope: that scope may read those rows, and no other step_runs.
create policy system_scope_waiting on step_runs for select to switchyard_system
  using ((select app_scope_is_system()) and status = 'waiting');

-- A waiting run's job is `waiting` (not `pending`) until its deadline: out of the claim's
-- partial indexes, so 100,000 waiting runs cost the claim nothing (its skip scan over due
-- tenants would otherwise walk every future job of a tenant), and out of the per-tenant queue
-- depth (backpressure). Workers move the due ones back to `pending` (wakeDueWaits, jobs.ts,
-- on this index); a resumer does at once.
alter table jobs drop constraint jobs_status_check;
alter table jobs add constraint jobs_status_check
  check (status in ('pending', 'running', 'waiting'));
create index jobs_waiting_due_idx on jobs (run_at) where status = 'waiting';
