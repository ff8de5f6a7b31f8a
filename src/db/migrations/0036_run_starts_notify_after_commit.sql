-- 0036: run starts send their run changes after their commit, like the worker's statements (0016).
--
-- The run intake (src/engine/intake.ts) commits the webhook and API starts of a tenant
-- together. Its statement notified twice: the workers' wake-up (pg_notify in the statement)
-- and the views' run change (this trigger). A notifying transaction holds PostgreSQL's
-- notification lock through its commit, WAL flush included, so every intake commit waited for
-- the flush of the notifying commit before it: one flush at a time where the database's group
-- commit would have flushed several together (bench/RESULTS.md, round four: Lock:object and
-- WalSync in the wait events). The intake now sets `switchyard.run_changes` to 'caller' for its
-- transaction and sends both after the commit, in a statement that writes nothing
-- (src/engine/run-changes.ts). Every other statement that inserts runs notifies as before.

create or replace function notify_inserted_runs() returns trigger
  language plpgsql as $$
begin
  if current_setting('switchyard.run_changes', true) = 'caller' then
    return null;
  end if;
  perform pg_notify('sy_run_changes', json_build_object('t', c.tenant_id, 'r', json_agg(c.run))::text)
     from (select n.tenant_id, json_build_array(n.id, n.workflow_id, n.status) as run,
                  (row_number() over (partition by n.tenant_id order by n.id) - 1) / 40 as chunk
             from new_runs n) c
    group by c.tenant_id, c.chunk;
  return null;
end
$$;
