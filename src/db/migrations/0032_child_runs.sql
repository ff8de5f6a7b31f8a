-- 0032: child runs (callWorkflow, src/engine/control/call-workflow.ts). A child's end resolves
-- the parent's waiting step and wakes the parent's job in the child's finishing transaction,
-- whatever statement finished it (a step transition, a cancel, a worker's clean-up); a parent's
-- cancel cancels its unfinished children, and theirs in turn (the same trigger fires for each).
-- Both triggers are row triggers whose WHEN clause a version-1 run never passes, except the
-- cancel one (one probe of workflow_runs_parent_idx per canceled run).

create or replace function resolve_parent_wait() returns trigger
  language plpgsql as $$
declare
  v_step_index integer;
begin
  -- A `running` StepRun is one whose wait the parent's worker has not recorded yet (the child
  -- was that fast): resolved too, so the engine's write of `waiting` (guarded on `running`)
  -- finds it done and the claim at that step takes the child's outcome.
  update step_runs s
     set status = case when new.status = 'succeeded' then 'succeeded' else 'failed' end,
         output = case when new.status = 'succeeded' then new.output end,
         error_code = case when new.status <> 'succeeded' then 'E_CHILD_RUN_FAILED' end,
         error_message = case when new.status <> 'succeeded' then
           left(format('Child run %s ended %s: %s', new.id, new.status,
                       coalesce(new.error ->> 'code', '') || ' ' || coalesce(new.error ->> 'message', '')),
                2000) end,
         error_retryable = case when new.status <> 'succeeded' then false end,
         finished_at = now()
   where s.tenant_id = new.tenant_id and s.run_id = new.parent_run_id
     and s.child_run_id = new.id and s.status in ('waiting', 'running')
  returning s.step_index into v_step_index;
  if found then
    -- The job of a waiting run is `waiting` until its deadline (0033): pending now, claimable.
    update jobs j set status = 'pending', run_at = least(j.run_at, now())
     where j.tenant_id = new.tenant_id and j.run_id = new.parent_run_id
       and j.step_index = v_step_index and j.status in ('waiting', 'pending');
    perform pg_notify('switchyard_jobs', '');
  end if;
  return null;
end
$$;

create trigger workflow_runs_child_end
  after update of status on workflow_runs
  for each row
  when (new.parent_run_id is not null and old.status is distinct from new.status
        and new.status in ('succeeded', 'failed', 'dead', 'canceled'))
  execute function resolve_parent_wait();

create or replace function cancel_child_runs() returns trigger
  language plpgsql as $$
declare
  v_n bigint;
begin
  with r as (
    update workflow_runs c
       set status = 'canceled', finished_at = now(),
           error = jsonb_build_object('code', 'E_RUN_CANCELED',
                                      'message', format('The parent run %s was canceled.', new.id),
                                      'retryable', false)
     where c.tenant_id = new.tenant_id and c.parent_run_id = new.id
       and c.status in ('queued', 'running', 'waiting')
    returning c.tenant_id, c.id
  ),
  j as (
    delete from jobs using r where jobs.tenant_id = r.tenant_id and jobs.run_id = r.id
    returning jobs.id, jobs.locked_by
  ),
  s as (
    update step_runs set status = 'canceled', finished_at = now(), error_code = 'E_RUN_CANCELED',
           error_message = 'The run was canceled.', error_retryable = false
      from r
     where step_runs.tenant_id = r.tenant_id and step_runs.run_id = r.id
       and step_runs.status in ('running', 'waiting')
    returning 1
  )
  -- The worker holding a child's job aborts its step, as for the run's own cancel.
  select (select count(*) from s)
         + (select count(*) from (select pg_notify('switchyard_cancel', j.id::text)
                                    from j where j.locked_by is not null) n)
    into v_n;
  return null;
end
$$;

create trigger workflow_runs_cancel_children
  after update of status on workflow_runs
  for each row
  when (new.status = 'canceled' and old.status is distinct from 'canceled')
  execute function cancel_child_runs();
