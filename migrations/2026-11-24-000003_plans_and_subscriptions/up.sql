-- What each plan allows per UTC day. Text messages are the seed's numbers;
-- voice minutes and TTS characters scale with them (see README "Plans").
CREATE TABLE plan_limits (
    plan                      text PRIMARY KEY,
    daily_text_messages       integer NOT NULL CHECK (daily_text_messages >= 0),
    daily_voice_input_minutes integer NOT NULL CHECK (daily_voice_input_minutes >= 0),
    daily_tts_characters      integer NOT NULL CHECK (daily_tts_characters >= 0),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER plan_limits_set_updated_at BEFORE UPDATE ON plan_limits
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

INSERT INTO plan_limits (plan, daily_text_messages, daily_voice_input_minutes, daily_tts_characters) VALUES
    ('free',      50,   2,   5000),
    ('pro',      500,  20,  50000),
    ('premium', 2000,  80, 200000);

-- One subscription per user, created in the same transaction as the user.
CREATE TABLE subscriptions (
    id                             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                        uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    plan                           text NOT NULL DEFAULT 'free' REFERENCES plan_limits (plan),
    status                         text NOT NULL DEFAULT 'active'
                                   CHECK (status IN ('active', 'expired', 'revoked', 'grace_period', 'billing_retry')),
    apple_original_transaction_id  text UNIQUE,
    apple_product_id               text,
    apple_environment              text CHECK (apple_environment IN ('Production', 'Sandbox', 'Xcode', 'LocalTesting')),
    current_period_end             timestamptz,
    created_at                     timestamptz NOT NULL DEFAULT now(),
    updated_at                     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_plan_idx ON subscriptions (plan);
CREATE TRIGGER subscriptions_set_updated_at BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- App Store Server Notifications V2 already applied, so a redelivered
-- notification changes nothing.
CREATE TABLE app_store_notifications (
    notification_uuid        text PRIMARY KEY,
    notification_type        text NOT NULL,
    subtype                  text,
    original_transaction_id  text,
    signed_at                timestamptz,
    processed_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX app_store_notifications_original_transaction_id_idx
    ON app_store_notifications (original_transaction_id);
