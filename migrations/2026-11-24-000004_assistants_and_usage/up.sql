-- A user's OpenClaw agent. `agent_id` is derived from the user's UUID only.
CREATE TABLE assistants (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    agent_id        text NOT NULL UNIQUE CHECK (agent_id ~ '^agent-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    display_name    text NOT NULL DEFAULT 'My Assistant' CHECK (length(display_name) BETWEEN 1 AND 100),
    voice           text NOT NULL DEFAULT 'nova',
    model           text NOT NULL DEFAULT 'openai-custom/gpt-5-nano',
    -- Which gateway shard holds the agent.
    gateway_id      text NOT NULL DEFAULT 'default',
    -- provisioning: row exists, workspace/config not yet confirmed;
    -- active: in its gateway's roster; hibernated: removed from the roster,
    -- workspace kept; failed: provisioning gave up until the next retry.
    status          text NOT NULL DEFAULT 'provisioning'
                    CHECK (status IN ('provisioning', 'active', 'hibernated', 'failed')),
    last_active_at  timestamptz,
    message_count   bigint NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assistants_gateway_status_idx ON assistants (gateway_id, status);
CREATE INDEX assistants_status_last_active_idx ON assistants (status, last_active_at);
CREATE TRIGGER assistants_set_updated_at BEFORE UPDATE ON assistants
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The durable per-day counters (UTC days). Redis holds the hot copy used for
-- atomic reservations; this is the record that survives it.
CREATE TABLE daily_usage (
    user_id               uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    usage_date            date NOT NULL,
    text_messages         integer NOT NULL DEFAULT 0 CHECK (text_messages >= 0),
    voice_input_seconds   integer NOT NULL DEFAULT 0 CHECK (voice_input_seconds >= 0),
    voice_output_seconds  integer NOT NULL DEFAULT 0 CHECK (voice_output_seconds >= 0),
    tts_characters        integer NOT NULL DEFAULT 0 CHECK (tts_characters >= 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, usage_date)
);
CREATE TRIGGER daily_usage_set_updated_at BEFORE UPDATE ON daily_usage
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One row per charged (or refunded, negative) unit, for audits and support.
CREATE TABLE usage_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('text_message', 'voice_input_seconds', 'voice_output_seconds', 'tts_characters')),
    amount      integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_log_user_created_idx ON usage_log (user_id, created_at);
