-- 0038: no planner statistics for the payload columns of the hot tables.
--
-- No statement filters, joins or sorts on a run's or a step's input and output, a run's error,
-- or a log line's data: their statistics serve no plan. Gathering them was the most expensive
-- part of an ANALYZE of these tables (sorting a sample of jsonb values), and autovacuum
-- analyzes them every few seconds while a new install takes its first load (the embedded
-- server's autovacuum_naptime of 5 s, docs/scaling.md): a fifth of PostgreSQL's CPU under a webhook load, half of it
-- comparing jsonb (bench/RESULTS.md, round eleven). A statistics target of 0 skips a column
-- in ANALYZE; the planner falls back to its defaults for it, which no statement reaches.

alter table workflow_runs
  alter column input set statistics 0,
  alter column output set statistics 0,
  alter column error set statistics 0,
  alter column error_context set statistics 0,
  alter column pending_end set statistics 0;

alter table step_runs
  alter column input set statistics 0,
  alter column output set statistics 0;

alter table trigger_samples alter column payload set statistics 0;

-- Recurses to the partitions there are; ensure_daily_partitions copies it to new ones.
alter table execution_logs alter column data set statistics 0;

-- As in 0001, and a new partition takes the statistics targets set on its parent's columns
-- (a partition made by CREATE TABLE … PARTITION OF does not).
create or replace function ensure_daily_partitions(parent regclass, from_day date, days integer)
  returns integer
  language plpgsql security definer set search_path = public, pg_temp
  as $$
declare
  d date;
  made integer := 0;
  part text;
  col record;
begin
  if parent not in ('execution_logs'::regclass, 'access_log'::regclass) then
    raise exception 'ensure_daily_partitions: % is not a day-partitioned table', parent;
  end if;
  if days < 1 or days > 60 then
    raise exception 'ensure_daily_partitions: days must be 1..60';
  end if;
  for i in 0 .. days - 1 loop
    d := from_day + i;
    part := format('%s_%s', parent::text, to_char(d, 'YYYYMMDD'));
    if to_regclass(part) is null then
      begin
        execute format('create table %I partition of %s for values from (%L) to (%L)',
          part, parent, d::timestamp at time zone 'UTC', (d + 1)::timestamp at time zone 'UTC');
        -- attstattarget: -1 for "the default" up to PostgreSQL 16, null from 17.
        for col in
          select attname, attstattarget from pg_attribute
           where attrelid = parent and attnum > 0 and not attisdropped and attstattarget >= 0
        loop
          execute format('alter table %I alter column %I set statistics %s',
            part, col.attname, col.attstattarget);
        end loop;
        made := made + 1;
      exception
        when duplicate_table then
          null; -- another process made it first
        when check_violation then
          -- rows for that day already landed in the default partition; they stay there
          -- until retention removes them, and the day simply has no partition of its own.
          raise notice 'ensure_daily_partitions: % has rows in the default partition', part;
      end;
    end if;
  end loop;
  return made;
end
$$;
revoke all on function ensure_daily_partitions(regclass, date, integer) from public;
