-- 0033: what a version-2 run carries while it handles a failure (src/engine/outcome.ts).
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
