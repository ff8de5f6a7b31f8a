-- 0031: forEach items run as jobs of their own (src/model/workflow-v2.ts ForEachStepV2,
-- src/engine/control/for-each.ts, src/db/queries/for-each.ts).
--
-- A run keeps one main job; while a loop runs, that job waits at the forEach pc (pending, due
-- far ahead) and each item in flight has its own job walking the body's pcs, claimed, leased,
-- retried and canceled like any other. At most `concurrency` item jobs exist at once: an item
-- ending spawns the next one, the last one wakes the main job, which collects the results.
--
-- 10,000 items must not make one huge row or one huge transaction: the list (evaluated once,
-- when the loop starts) is kept in chunks of bounded size; each item's result is a row of its
-- own, written by the transaction that ends the item; the loop's own row holds counters only.

-- The item a job runs (null: the run's main job). Two items of a run can stand at the same pc.
alter table jobs add column item_index integer check (item_index >= 0);
alter table jobs drop constraint jobs_tenant_id_run_id_step_index_key;
create unique index jobs_run_step_item_key
  on jobs (tenant_id, run_id, step_index, coalesce(item_index, -1));

-- A loop of a run: created when its main job first reaches the forEach pc.
create table for_each_loops (
  tenant_id uuid not null references tenants (id) on delete cascade,
  run_id uuid not null,
  loop_pc integer not null check (loop_pc >= 0),
  item_count integer not null check (item_count > 0),
  -- Items per row of for_each_chunks.
  chunk_size integer not null check (chunk_size > 0),
  -- Items whose job was created so far (the next one to spawn is this index).
  spawned integer not null check (spawned >= 0),
  -- Items whose result is recorded.
  finished integer not null default 0 check (finished >= 0),
  -- onItemError "fail": the first failed item's index; nothing is spawned after it.
  failed_item integer,
  created_at timestamptz not null,
  primary key (tenant_id, run_id, loop_pc),
  foreign key (tenant_id, run_id) references workflow_runs (tenant_id, id) on delete cascade
);

-- The list, in chunks: items [chunk_index * chunk_size, (chunk_index + 1) * chunk_size).
create table for_each_chunks (
  tenant_id uuid not null,
  run_id uuid not null,
  loop_pc integer not null,
  chunk_index integer not null check (chunk_index >= 0),
  items jsonb not null,
  primary key (tenant_id, run_id, loop_pc, chunk_index),
  foreign key (tenant_id, run_id, loop_pc) references for_each_loops (tenant_id, run_id, loop_pc)
    on delete cascade
);

-- One row per ended item: its body's last step's output, or `{ "error": { code, message } }`.
-- The key makes an item's result count once, whatever a lost worker repeats.
create table for_each_results (
  tenant_id uuid not null,
  run_id uuid not null,
  loop_pc integer not null,
  item_index integer not null check (item_index >= 0),
  failed boolean not null,
  result jsonb,
  primary key (tenant_id, run_id, loop_pc, item_index),
  foreign key (tenant_id, run_id, loop_pc) references for_each_loops (tenant_id, run_id, loop_pc)
    on delete cascade
);

do $$
declare t text;
begin
  foreach t in array array['for_each_loops', 'for_each_chunks', 'for_each_results'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format(
      'create policy tenant_isolation on %I using (tenant_id = app_tenant_id()) with check (tenant_id = app_tenant_id())',
      t);
  end loop;
end
$$;
grant select, insert, update, delete on for_each_loops, for_each_chunks, for_each_results
  to switchyard_runtime;

-- The outputs a step sees are read per claim from the run's StepRuns before its pc: the main
-- path's (item_index null) and its own item's. Reached only through the run (tenant_id, run_id)
-- prefix of step_runs' keys, every item's claim would read the StepRuns of all the loop's items
-- (10,000 items: 10^8 rows read over the loop). Queries name the path as
-- `coalesce(item_index, -1)` (-1: the main path) to use this index.
create index step_runs_path_idx on step_runs (tenant_id, run_id, coalesce(item_index, -1), step_index);
