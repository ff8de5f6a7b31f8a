-- 0033: what a version-2 run carries while it handles a failure (src/engine/outcome.ts), and
-- the system scope's view of waiting steps (the waiting-runs gauge).
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
