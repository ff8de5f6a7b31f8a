-- 0012: a notification when runs start or change status, or one of their step attempts
-- starts or ends, for live run views (GraphQL subscriptions, src/api/run-changes.ts). Statement-level AFTER triggers with transition
-- tables: one pg_notify per tenant (and per 40 runs) per statement, not one per row, so the
-- engine's batched statements (intake, group commit) stay one notification each. Only the API
-- processes LISTEN; nothing waits on this channel, so a lost notification costs a stale view.
--
-- Payload (well under the 8000-byte limit: 40 runs of about 110 bytes):
--   {"t": "<tenant id>", "r": [["<run id>", "<workflow id>", "<run status>"], ...]}
-- A step's change carries its run's status as it is at the end of the statement.

create function notify_inserted_runs() returns trigger
  language plpgsql as $$
begin
  perform pg_notify('sy_run_changes', json_build_object('t', c.tenant_id, 'r', json_agg(c.run))::text)
     from (select n.tenant_id, json_build_array(n.id, n.workflow_id, n.status) as run,
                  (row_number() over (partition by n.tenant_id order by n.id) - 1) / 40 as chunk
             from new_runs n) c
    group by c.tenant_id, c.chunk;
  return null;
end
$$;

create function notify_updated_runs() returns trigger
  language plpgsql as $$
begin
  -- Every statement that updates workflow_runs changes its status, except the foreign keys'
  -- own `set null` actions: those are skipped here.
  perform pg_notify('sy_run_changes', json_build_object('t', c.tenant_id, 'r', json_agg(c.run))::text)
     from (select n.tenant_id, json_build_array(n.id, n.workflow_id, n.status) as run,
                  (row_number() over (partition by n.tenant_id order by n.id) - 1) / 40 as chunk
             from new_runs n join old_runs o on o.tenant_id = n.tenant_id and o.id = n.id
            where o.status <> n.status) c
    group by c.tenant_id, c.chunk;
  return null;
end
$$;

create trigger workflow_runs_inserted_notify after insert on workflow_runs
  referencing new table as new_runs
  for each statement execute function notify_inserted_runs();

create trigger workflow_runs_updated_notify after update on workflow_runs
  referencing old table as old_runs new table as new_runs
  for each statement execute function notify_updated_runs();

create function notify_changed_steps() returns trigger
  language plpgsql as $$
begin
  -- One entry per run however many of its attempts changed; the run is read under the same
  -- row security as the statement that changed its steps.
  perform pg_notify('sy_run_changes', json_build_object('t', c.tenant_id, 'r', json_agg(c.run))::text)
     from (select r.tenant_id, json_build_array(r.id, r.workflow_id, r.status) as run,
                  (row_number() over (partition by r.tenant_id order by r.id) - 1) / 40 as chunk
             from workflow_runs r
            where (r.tenant_id, r.id) in (select s.tenant_id, s.run_id from new_steps s)) c
    group by c.tenant_id, c.chunk;
  return null;
end
$$;

create trigger step_runs_inserted_notify after insert on step_runs
  referencing new table as new_steps
  for each statement execute function notify_changed_steps();

-- Attempts are updated only to finish them (their status changes).
create trigger step_runs_updated_notify after update on step_runs
  referencing new table as new_steps
  for each statement execute function notify_changed_steps();
