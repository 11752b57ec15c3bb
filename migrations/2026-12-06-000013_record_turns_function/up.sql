-- A batch of answered turns in one call (crates/persistence/src/queries/
-- turns.rs, record_batch). Sent as nine statements, a batch took nine round
-- trips while holding its users' locks, and its SQL was parsed and planned
-- anew each time (diesel does not cache raw queries); a PL/pgSQL function
-- is one round trip and keeps its plans for the connection's life.
--
-- Usage arrays: one element per (user, day), users in id order. Message
-- arrays: one element per message, grouped by user in id order, each
-- user's messages in the order to append.
CREATE FUNCTION heyclaw_record_turns(
    usage_users uuid[],
    usage_days date[],
    text_messages int[],
    voice_input_seconds int[],
    voice_output_seconds int[],
    tts_characters int[],
    message_users uuid[],
    message_client_ids text[],
    message_roles text[],
    message_contents text[],
    message_voice bool[],
    new_session_title text
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    usage_rows bigint;
BEGIN
    -- It returns without waiting for the WAL flush (see record_batch).
    PERFORM set_config('synchronous_commit', 'off', true);
    -- The users' rows first, in id order: an account deletion locks the
    -- user row and then cascades to the rows written here (taking the
    -- assistant row first deadlocked with a deletion right after a turn).
    -- A user deleted before this lock fails the batch on its foreign keys,
    -- and the recorder splits it.
    PERFORM 1 FROM users WHERE id = ANY (usage_users) ORDER BY id FOR KEY SHARE;
    WITH used AS (
        SELECT * FROM unnest(usage_users, usage_days, text_messages, voice_input_seconds,
                             voice_output_seconds, tts_characters)
            AS u (user_id, usage_date, text_messages, voice_input_seconds,
                  voice_output_seconds, tts_characters)
    ),
    usage AS (
        INSERT INTO daily_usage AS d
            (user_id, usage_date, text_messages, voice_input_seconds, voice_output_seconds, tts_characters)
        SELECT * FROM used
        ON CONFLICT (user_id, usage_date) DO UPDATE SET
            text_messages = d.text_messages + EXCLUDED.text_messages,
            voice_input_seconds = d.voice_input_seconds + EXCLUDED.voice_input_seconds,
            voice_output_seconds = d.voice_output_seconds + EXCLUDED.voice_output_seconds,
            tts_characters = d.tts_characters + EXCLUDED.tts_characters
        RETURNING 1
    ),
    log AS (
        INSERT INTO usage_log (user_id, kind, amount)
        SELECT used.user_id, kinds.kind, kinds.amount FROM used
        CROSS JOIN LATERAL (VALUES
            ('text_message', used.text_messages),
            ('voice_input_seconds', used.voice_input_seconds),
            ('voice_output_seconds', used.voice_output_seconds),
            ('tts_characters', used.tts_characters)) AS kinds (kind, amount)
        WHERE kinds.amount <> 0
        RETURNING 1
    ),
    turns AS (
        UPDATE assistants a SET message_count = a.message_count + t.n, last_active_at = now()
        FROM (SELECT user_id, sum(used.text_messages)::bigint AS n FROM used GROUP BY user_id) AS t
        WHERE a.user_id = t.user_id
        RETURNING 1
    )
    SELECT count(*) INTO usage_rows FROM usage;

    IF coalesce(cardinality(message_users), 0) = 0 THEN
        RETURN;
    END IF;
    -- Appends of one user are serialised (positions never collide) by an
    -- advisory lock keyed by the first 8 bytes of the user id, taken in
    -- user-id order, the same in every batch.
    PERFORM pg_advisory_xact_lock(('x' || left(replace(u.user_id::text, '-', ''), 16))::bit(64)::bigint)
    FROM (SELECT DISTINCT m.user_id FROM unnest(message_users) AS m (user_id) ORDER BY 1) AS u;
    INSERT INTO chat_sessions (user_id, title)
    SELECT DISTINCT m.user_id, new_session_title FROM unnest(message_users) AS m (user_id)
    WHERE NOT EXISTS (SELECT 1 FROM chat_sessions s WHERE s.user_id = m.user_id);
    WITH message AS (
        SELECT * FROM unnest(message_users, message_client_ids, message_roles, message_contents,
                             message_voice)
            WITH ORDINALITY AS m (user_id, client_id, role, content, is_voice, ord)
    ),
    tail AS (
        SELECT u.user_id, s.id AS session_id,
               (SELECT max(c.position) FROM chat_messages c WHERE c.session_id = s.id) AS last_position
        FROM (SELECT DISTINCT user_id FROM message) AS u
        CROSS JOIN LATERAL (
            SELECT id FROM chat_sessions WHERE user_id = u.user_id ORDER BY updated_at DESC LIMIT 1
        ) AS s
    ),
    appended AS (
        INSERT INTO chat_messages (session_id, position, client_id, role, content, is_voice)
        SELECT tail.session_id,
               (coalesce(tail.last_position, -1)
                + row_number() OVER (PARTITION BY message.user_id ORDER BY message.ord))::int,
               message.client_id, message.role, message.content, message.is_voice
        FROM message JOIN tail USING (user_id)
        RETURNING 1
    )
    UPDATE chat_sessions SET updated_at = now() WHERE id IN (SELECT session_id FROM tail);
END
$$;
