-- 0018: cursor pagination and name search for the lists a person browses (docs/api.md,
-- "Pagination"): workflows, apps, actions, connections, triggers, members. A list pages by
-- keyset on (name_key, id) — case-insensitive order, the id breaks ties — and each index below
-- serves both the order and the `after` cursor of one tenant's list.
--
-- name_key is lower(name), stored: under forced row security the planner may use a condition
-- as an index condition only if its functions are leakproof, and lower() (like LIKE and
-- pg_trgm's operators) is not, while text comparison is. With `lower(name) > $1` each page
-- after the first read every earlier row of the tenant (measured: 10,000 rows filtered for
-- page 100 of 20,000); with `name_key > $1` it reads its own rows only.
alter table workflows add column name_key text generated always as (lower(name)) stored;
alter table apps add column name_key text generated always as (lower(name)) stored;
alter table actions add column name_key text generated always as (lower(name)) stored;
alter table connections add column name_key text generated always as (lower(name)) stored;

create index workflows_name_page_idx on workflows (tenant_id, name_key, id);
create index apps_name_page_idx on apps (tenant_id, (not is_builtin), name_key, id);
create index actions_name_page_idx on actions (tenant_id, name_key, id);
create index actions_app_name_page_idx on actions (tenant_id, app_id, name_key, id);
create index connections_name_page_idx on connections (tenant_id, name_key, id);
create index triggers_workflow_page_idx on triggers (tenant_id, workflow_id, created_at, id);
