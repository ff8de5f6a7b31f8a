-- 0023: OpenAPI import (docs/workflows.md, "Importing an OpenAPI document").
-- Re-importing a newer version of a document updates its actions by key; an action whose
-- operation disappeared is marked deprecated rather than deleted, since workflow versions (which
-- are immutable and pinned by runs) may still name it. It keeps running; the app lists it apart.
alter table actions add column deprecated_at timestamptz;

