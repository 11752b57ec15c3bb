ALTER TABLE app_store_notifications
    DROP COLUMN environment,
    DROP COLUMN product_id,
    DROP COLUMN status,
    DROP COLUMN expires_at,
    DROP COLUMN grace_period_ends_at,
    DROP COLUMN user_id;
UPDATE subscriptions SET status = 'expired' WHERE status = 'refunded';
ALTER TABLE subscriptions
    DROP COLUMN grace_period_ends_at,
    DROP COLUMN apple_signed_at,
    DROP CONSTRAINT subscriptions_status_check,
    ADD CONSTRAINT subscriptions_status_check
        CHECK (status IN ('active', 'expired', 'revoked', 'grace_period', 'billing_retry'));
UPDATE subscriptions SET plan = 'free' WHERE plan = 'starter';
DELETE FROM plan_limits WHERE plan = 'starter';
