-- 0037: a child run that ends before its parent's wait is recorded leaves a wait record.
--
-- A child can end between the commit of its start and the commit of the parent's wait (it was
-- that fast, or it was canceled at once). The trigger of 0032 resolved the parent's StepRun
-- while it was still `running`, but left its `wait_until` null; the engine's wait then moved
-- the job to `waiting` (its StepRun update, guarded on `running`, did nothing), and the claim
-- at the step, which takes a resolved StepRun as the wait's outcome only when `wait_until` is
-- set (src/engine/prepare.ts, isWaitRecord), started a new attempt under the same attempt
-- number instead: the insert failed on step_runs_attempt_key and the parent stood still until
-- its lease ran out. The StepRun resolved now carries `wait_until` = the moment of the child's
-- end (a StepRun already waiting keeps its deadline), so the claim takes the child's outcome.

create or replace function resolve_parent_wait() returns trigger
  language plpgsql as $$
declare
  v_step_index integer;
begin
  -- A `running` StepRun is one whose wait the parent's worker has not recorded yet (the child
  -- was that fast): resolved too, marked as a wait (wait_until), so the engine's write of
  -- `waiting` (guarded on `running`) finds it done and the claim at that step takes the
  -- child's outcome.
  update step_runs s
     set status = case when new.status = 'succeeded' then 'succeeded' else 'failed' end,
         output = case when new.status = 'succeeded' then new.output end,
         error_code = case when new.status <> 'succeeded' then 'E_CHILD_RUN_FAILED' end,
         error_message = case when new.status <> 'succeeded' then
           left(format('Child run %s ended %s: %s', new.id, new.status,
                       coalesce(new.error ->> 'code', '') || ' ' || coalesce(new.error ->> 'message', '')),
                2000) end,
         error_retryable = case when new.status <> 'succeeded' then false end,
         wait_until = coalesce(s.wait_until, now()),
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
