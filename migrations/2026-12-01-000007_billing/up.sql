-- The plan the shipped app sells besides pro and premium.
INSERT INTO plan_limits (plan, daily_text_messages, daily_voice_input_minutes, daily_tts_characters)
VALUES ('starter', 200, 15, 20000)
ON CONFLICT (plan) DO NOTHING;

-- Apple's state of a subscription, as last verified. `apple_signed_at` is
-- when Apple signed the snapshot applied last: an older one never overrides
-- it. A paid plan counts as free once `current_period_end` (and any
-- `grace_period_ends_at`) has passed, even if the notification saying so was
-- lost. `status` says why a plan is free: expired, refunded or revoked.
ALTER TABLE subscriptions
    ADD COLUMN grace_period_ends_at timestamptz,
    ADD COLUMN apple_signed_at timestamptz,
    DROP CONSTRAINT subscriptions_status_check,
    ADD CONSTRAINT subscriptions_status_check
        CHECK (status IN ('active', 'expired', 'refunded', 'revoked', 'grace_period', 'billing_retry'));

-- Each notification keeps what it said, so one that arrives before the app
-- has linked the purchase to an account is applied when it does.
ALTER TABLE app_store_notifications
    ADD COLUMN environment text,
    ADD COLUMN product_id text,
    ADD COLUMN status text,
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN grace_period_ends_at timestamptz,
    ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE SET NULL;
