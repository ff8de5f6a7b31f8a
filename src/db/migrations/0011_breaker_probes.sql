-- 0011: circuit breakers admit several probes per half-open window (docs/runner.md, "Circuit
-- breaker"). `probes` counts the probes claimed in the current window (0 while closed); while
-- half_open, `failures` counts that window's failed probes. A breaker that opens from
-- half_open keeps its probe count, one that opens from closed has none: the writer tells the
-- two apart without reading the row first.

alter table circuit_breakers
  add column probes integer not null default 0 check (probes >= 0);

-- When a retry (a request sent before) last succeeded: while that is recent, first tries'
-- failures do not open a closed breaker (a retry's failure still does). An upstream that fails
-- first tries but answers retries is up; see docs/runner.md, "Circuit breaker".
alter table circuit_breakers
  add column last_retry_success_at timestamptz;
