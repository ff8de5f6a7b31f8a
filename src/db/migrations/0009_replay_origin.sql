-- 0009: replays keep the original run's idempotency keys (docs/architecture.md, "Run lifecycle").
--
-- * workflow_runs.origin_run_id: for a replay, the first run of its chain (a replay of a replay
--   keeps the same origin). The outgoing Idempotency-Key of a step is derived from it, so an
--   upstream that already saw the original call can drop the replay's. No foreign key: the key
--   must stay the same after retention removed the original run. Null: the run is its own origin.

alter table workflow_runs add column origin_run_id uuid;
