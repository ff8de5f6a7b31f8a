-- 0035: an index nobody reads, written three times per run. Since 0002 idempotency keys live
-- in idempotency_keys (looked up there, for their whole TTL, whatever retention does to runs);
-- workflow_runs.idempotency_key is only shown with the run. Its index on workflow_runs
-- (tenant_id, workflow_id, idempotency_key) had no reader (pg_stat_user_indexes: 0 scans
-- under the end-to-end bench), and every run started with a key — each webhook delivery with a
-- webhook-id — wrote it at insert and again at each status update (the updates are not HOT:
-- status is indexed). bench/RESULTS.md, "End to end: issue 13, round three".
drop index workflow_runs_idempotency_key_idx;
