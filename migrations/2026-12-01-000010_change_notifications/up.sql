-- Every change that alters what an access token resolves to — the user's
-- status, a revoked login session, the plan, the assistant — is announced on
-- channel `heyclaw_user` with the user's id, so every API replica evicts its
-- cached copy at once (LISTEN/NOTIFY). Only the columns that matter fire:
-- recording a turn (message_count, last_active_at) or using a refresh token
-- (used_at) does not.
CREATE FUNCTION heyclaw_notify_user_change() RETURNS trigger AS $$
DECLARE
    changed record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD;
    ELSE
        changed := NEW;
    END IF;
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('heyclaw_user', changed.id::text);
    ELSE
        PERFORM pg_notify('heyclaw_user', changed.user_id::text);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- A plan's limits changed: every cached entry may be stale.
CREATE FUNCTION heyclaw_notify_all() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('heyclaw_user', '*');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_notify_change
    AFTER UPDATE OF status OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION heyclaw_notify_user_change();
CREATE TRIGGER subscriptions_notify_change
    AFTER UPDATE OF plan, status, current_period_end, grace_period_ends_at ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION heyclaw_notify_user_change();
CREATE TRIGGER assistants_notify_change
    AFTER UPDATE OF display_name, voice, model, status, gateway_id ON assistants
    FOR EACH ROW EXECUTE FUNCTION heyclaw_notify_user_change();
CREATE TRIGGER refresh_tokens_notify_change
    AFTER UPDATE OF revoked_at ON refresh_tokens
    FOR EACH ROW EXECUTE FUNCTION heyclaw_notify_user_change();
CREATE TRIGGER plan_limits_notify_change
    AFTER UPDATE ON plan_limits
    FOR EACH STATEMENT EXECUTE FUNCTION heyclaw_notify_all();
