-- 0029: an operator can disable a user (`switchyard user disable`). A disabled user cannot sign
-- in (already checked by sign-in), and now also: their live sessions stop working at the next
-- request, and API tokens they created lose their authority (a token acts for its creator,
-- 0008), without deleting anything, so `user enable` gives the same user back their tokens.

-- Only the system scope may disable or enable a user (the runtime role may not change
-- disabled_at; 0007 grants it display_name only). Returns the user's id, or null if no user
-- has that email.
create function set_user_disabled(p_email text, p_disabled boolean) returns uuid
  language sql security definer
  set search_path = public, pg_temp
  as $$
    update users
       set disabled_at = case when p_disabled then coalesce(disabled_at, now()) else null end
     where email = p_email
    returning id
  $$;
revoke all on function set_user_disabled(text, boolean) from public;
grant execute on function set_user_disabled(text, boolean) to switchyard_system;

-- A session of a disabled user is not live, whatever its expiry: the same function as 0007
-- with one more condition, so no request path can forget it.
create or replace function touch_session(p_token_hash bytea)
  returns table (id uuid, user_id uuid, current_tenant_id uuid, expires_at timestamptz,
                 revoked_at timestamptz)
  language sql security definer
  set search_path = public, pg_temp
  as $$
    with live as (
      select s.id, s.user_id, s.current_tenant_id, s.expires_at, s.revoked_at, s.last_seen_at
        from sessions s
        join users u on u.id = s.user_id and u.disabled_at is null
       where s.token_hash = p_token_hash and s.revoked_at is null and s.expires_at > now()
    ), touched as (
      update sessions s set last_seen_at = now() from live
       where s.id = live.id and live.last_seen_at < now() - interval '1 minute'
    )
    select live.id, live.user_id, live.current_tenant_id, live.expires_at, live.revoked_at
      from live
  $$;
