-- 0030: what definition version 2 (src/model/workflow-v2.ts, docs/workflows.md) records about a
-- run's path. A version-2 run is executed as a flat program (src/model/program.ts) whose
-- instruction index is `step_index`, so jobs and StepRuns keep their meaning; these columns say
-- which way the run went.

-- A run can wait (delay, waitUntil, waitForEvent, a child run): it holds no worker, no lease and
-- no connection then, only its job row, due at the wait's deadline.
alter table workflow_runs drop constraint workflow_runs_status_check;
alter table workflow_runs add constraint workflow_runs_status_check
  check (status in ('queued', 'running', 'waiting', 'succeeded', 'failed', 'canceled', 'dead'));

-- A child run (callWorkflow) names its parent and the parent's step that called it: the parent
-- is woken when the child ends, and canceling the parent cancels the child.
alter table workflow_runs
  add column parent_run_id uuid,
  add column parent_step_index integer,
  add foreign key (tenant_id, parent_run_id) references workflow_runs (tenant_id, id)
    on delete set null (parent_run_id);
create index workflow_runs_parent_idx on workflow_runs (tenant_id, parent_run_id)
  where parent_run_id is not null;

-- A StepRun can be `waiting` (until `wait_until`, or until resumed / its child ends).
alter table step_runs drop constraint step_runs_status_check;
alter table step_runs add constraint step_runs_status_check
  check (status in ('running', 'waiting', 'succeeded', 'failed', 'skipped', 'canceled'));

alter table step_runs
  -- The forEach item this StepRun belongs to (null outside a loop body).
  add column item_index integer check (item_index >= 0),
  -- A switch's chosen branch (`default` for the default).
  add column branch text,
  -- A waiting step's deadline (delay/waitUntil: when it goes on; waitForEvent: its timeout).
  add column wait_until timestamptz,
  -- The child run a callWorkflow step started.
  add column child_run_id uuid;

-- The same step runs once per item of a loop: an attempt is unique per item.
alter table step_runs drop constraint step_runs_tenant_id_run_id_step_id_attempt_key;
create unique index step_runs_attempt_key
  on step_runs (tenant_id, run_id, step_id, coalesce(item_index, -1), attempt);
-- Waiting steps, for the resume paths and the health page's count.
create index step_runs_waiting_idx on step_runs (tenant_id, run_id) where status = 'waiting';
