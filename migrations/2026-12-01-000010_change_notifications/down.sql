DROP TRIGGER plan_limits_notify_change ON plan_limits;
DROP TRIGGER refresh_tokens_notify_change ON refresh_tokens;
DROP TRIGGER assistants_notify_change ON assistants;
DROP TRIGGER subscriptions_notify_change ON subscriptions;
DROP TRIGGER users_notify_change ON users;
DROP FUNCTION heyclaw_notify_all();
DROP FUNCTION heyclaw_notify_user_change();
