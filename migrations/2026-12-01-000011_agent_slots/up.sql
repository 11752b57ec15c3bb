-- Scale (docs/gateway-scale.md): each gateway shard serves a fixed pool of
-- pre-registered slot agents, so waking a user never changes a roster. A
-- user is resident while bound to a slot of their shard; their workspace
-- files are archived here while they are not, so a shard may sit on another
-- machine and an agent can move between shards.

-- Shards, as their keepers announce them (the keeper beside each gateway).
CREATE TABLE gateway_shards (
    id text PRIMARY KEY,
    slots integer NOT NULL CHECK (slots >= 0),
    seen_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per slot agent. `user_id` is who should be in the slot (the API
-- writes it: a wake claims a free slot, or the least recently used one whose
-- lease has passed); the keeper makes the slot's files say so and then marks
-- the slot `ready`. `generation` grows with each binding: a binding's gateway
-- session and its readiness belong to one generation. `lease_until` is how
-- long the binding cannot be taken away (a turn in flight renews it).
CREATE TABLE agent_slots (
    gateway_id text NOT NULL REFERENCES gateway_shards (id) ON DELETE CASCADE,
    slot integer NOT NULL CHECK (slot >= 0),
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    generation bigint NOT NULL DEFAULT 0,
    state text NOT NULL DEFAULT 'free' CHECK (state IN ('free', 'binding', 'ready')),
    lease_until timestamptz NOT NULL DEFAULT '-infinity',
    last_used_at timestamptz NOT NULL DEFAULT '-infinity',
    -- Whether the binding's first turn has carried the recent conversation.
    primed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (gateway_id, slot)
);
-- A user is in one slot at most.
CREATE UNIQUE INDEX agent_slots_user_key ON agent_slots (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX agent_slots_eviction ON agent_slots (gateway_id, last_used_at);

-- A user's workspace files while not resident (and a copy of a resident
-- one's, refreshed by the keeper).
CREATE TABLE agent_files (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path text NOT NULL,
    content bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, path)
);

-- Keepers LISTEN on `heyclaw_slots`; the payload is the shard id.
CREATE FUNCTION heyclaw_notify_slot_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('heyclaw_slots', NEW.gateway_id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER agent_slots_notify_change
    AFTER UPDATE OF user_id, generation ON agent_slots
    FOR EACH ROW EXECUTE FUNCTION heyclaw_notify_slot_change();

-- A resident user's name or time zone changed: their USER.md follows.
CREATE FUNCTION heyclaw_notify_resident_user_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('heyclaw_slots', s.gateway_id)
    FROM agent_slots s WHERE s.user_id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_notify_resident_change
    AFTER UPDATE OF timezone ON users
    FOR EACH ROW EXECUTE FUNCTION heyclaw_notify_resident_user_change();
