-- 0008: an API token acts for the member who created it (docs/api.md, "Authentication"): it
-- never has more than that member's current role, and stops working when they leave.
--
-- Until now a token created with a token recorded no creator (created_by null), and a token
-- without a creator is now refused. The audit event of its creation names the creating token,
-- whose creator it acts for: follow that chain. A token whose chain cannot be followed (its
-- audit event was removed by retention) keeps no creator and must be created again.
--
-- Tenant tables have FORCED row-level security, which applies to the owner running this too:
-- list the tenants in the system scope, then work in each tenant's own scope.
do $$
declare
  tenant_ids uuid[];
  tenant uuid;
  changed integer;
begin
  perform set_config('app.scope', 'system', true);
  select coalesce(array_agg(id), '{}') into tenant_ids from tenants;
  perform set_config('app.scope', '', true);
  foreach tenant in array tenant_ids loop
    perform set_config('app.tenant_id', tenant::text, true);
    loop
      update api_tokens t
         set created_by = c.created_by
        from audit_events e
        join api_tokens c on c.tenant_id = e.tenant_id and c.id::text = e.actor_id
       where t.created_by is null
         and c.created_by is not null
         and e.tenant_id = t.tenant_id
         and e.action = 'api_token.created'
         and e.actor_kind = 'token'
         and e.target_id = t.id::text;
      get diagnostics changed = row_count;
      exit when changed = 0;
    end loop;
  end loop;
  perform set_config('app.tenant_id', '', true);
end
$$;
