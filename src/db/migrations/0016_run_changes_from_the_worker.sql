-- 0016: the worker's hot statements send their run changes themselves, after their commit.
--
-- A transaction that calls pg_notify holds PostgreSQL's notification lock from just before its
-- commit until the commit is done, WAL flush included: every notifying transaction commits
-- after the one before it has flushed. The run-change triggers of 0012 made every step
-- transition and every attempt start notify, so the worker's durable commits were serialised
-- behind one another. The statements that record step transitions and attempt starts
-- (src/db/queries/step-transitions.ts, step-runs.ts) now set `switchyard.run_changes` to
-- 'caller' for their transaction, and the worker sends the same payloads on `sy_run_changes`
-- once they have committed (src/engine/run-changes.ts), in a statement that writes nothing (no
-- WAL flush to wait for). Every other statement notifies from the triggers as before.

create or replace function notify_updated_runs() returns trigger
  language plpgsql as $$
begin
  if current_setting('switchyard.run_changes', true) = 'caller' then
    return null;
  end if;
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

create or replace function notify_changed_steps() returns trigger
  language plpgsql as $$
begin
  if current_setting('switchyard.run_changes', true) = 'caller' then
    return null;
  end if;
  perform pg_notify('sy_run_changes', json_build_object('t', c.tenant_id, 'r', json_agg(c.run))::text)
     from (select s.tenant_id,
                  (select json_build_array(r.id, r.workflow_id, r.status)
                     from workflow_runs r
                    where r.tenant_id = s.tenant_id and r.id = s.run_id) as run,
                  (row_number() over (partition by s.tenant_id order by s.run_id) - 1) / 40 as chunk
             from (select distinct n.tenant_id, n.run_id from new_steps n) s) c
    where c.run is not null
    group by c.tenant_id, c.chunk;
  return null;
end
$$;
