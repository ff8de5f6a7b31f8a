-- 0015: the step triggers of 0012 read each changed run by its primary key.
--
-- 0012's notify_changed_steps found the runs with `(r.tenant_id, r.id) in (select … from
-- new_steps)`: planned once per session (PL/pgSQL caches it) for a transition table of unknown
-- size, that became a hash semi-join over all of the tenant's runs — a scan of workflow_runs per
-- statement that starts or finishes steps, growing with the table (6.5 ms a statement with a
-- few thousand runs; bench/RESULTS.md, "End to end"). A correlated lookup per distinct run is
-- an index scan of the primary key whatever the plan cache holds: the cost follows the batch,
-- not the backlog. Payload and chunking are those of 0012.

create or replace function notify_changed_steps() returns trigger
  language plpgsql as $$
begin
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
