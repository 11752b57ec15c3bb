// @generated automatically by Diesel CLI.

diesel::table! {
    agent_files (user_id, path) {
        user_id -> Uuid,
        path -> Text,
        content -> Bytea,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    agent_slots (gateway_id, slot) {
        gateway_id -> Text,
        slot -> Int4,
        user_id -> Nullable<Uuid>,
        generation -> Int8,
        state -> Text,
        lease_until -> Timestamptz,
        last_used_at -> Timestamptz,
        primed -> Bool,
    }
}

diesel::table! {
    app_store_notifications (notification_uuid) {
        notification_uuid -> Text,
        notification_type -> Text,
        subtype -> Nullable<Text>,
        original_transaction_id -> Nullable<Text>,
        signed_at -> Nullable<Timestamptz>,
        processed_at -> Timestamptz,
        environment -> Nullable<Text>,
        product_id -> Nullable<Text>,
        status -> Nullable<Text>,
        expires_at -> Nullable<Timestamptz>,
        grace_period_ends_at -> Nullable<Timestamptz>,
        user_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    assistants (id) {
        id -> Uuid,
        user_id -> Uuid,
        agent_id -> Text,
        display_name -> Text,
        voice -> Text,
        model -> Text,
        gateway_id -> Text,
        status -> Text,
        last_active_at -> Nullable<Timestamptz>,
        message_count -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    automation_jobs (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        schedule -> Text,
        kind -> Text,
        interval_seconds -> Nullable<Int4>,
        prompt -> Text,
        timezone -> Text,
        enabled -> Bool,
        next_run_at -> Nullable<Timestamptz>,
        last_run_at -> Nullable<Timestamptz>,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    automation_results (id) {
        id -> Uuid,
        user_id -> Uuid,
        job_id -> Nullable<Uuid>,
        job_name -> Text,
        result -> Text,
        run_at -> Timestamptz,
        status -> Text,
        seen -> Bool,
        delivered -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    chat_messages (id) {
        id -> Int8,
        session_id -> Uuid,
        position -> Int4,
        client_id -> Nullable<Text>,
        role -> Text,
        content -> Text,
        is_voice -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    chat_sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        title -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    daily_usage (user_id, usage_date) {
        user_id -> Uuid,
        usage_date -> Date,
        text_messages -> Int4,
        voice_input_seconds -> Int4,
        voice_output_seconds -> Int4,
        tts_characters -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    email_login_codes (id) {
        id -> Uuid,
        email -> Text,
        code_hash -> Bytea,
        attempts -> Int4,
        used_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        purpose -> Text,
    }
}

diesel::table! {
    gateway_shards (id) {
        id -> Text,
        slots -> Int4,
        seen_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    password_reset_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    plan_limits (plan) {
        plan -> Text,
        daily_text_messages -> Int4,
        daily_voice_input_minutes -> Int4,
        daily_tts_characters -> Int4,
        updated_at -> Timestamptz,
        max_automation_jobs -> Int4,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        family_id -> Uuid,
        device -> Nullable<Text>,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        parent_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Uuid,
        user_id -> Uuid,
        plan -> Text,
        status -> Text,
        apple_original_transaction_id -> Nullable<Text>,
        apple_product_id -> Nullable<Text>,
        apple_environment -> Nullable<Text>,
        current_period_end -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        grace_period_ends_at -> Nullable<Timestamptz>,
        apple_signed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    usage_log (id) {
        id -> Int8,
        user_id -> Uuid,
        kind -> Text,
        amount -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        apple_sub -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        timezone -> Text,
    }
}

diesel::joinable!(agent_files -> users (user_id));
diesel::joinable!(agent_slots -> gateway_shards (gateway_id));
diesel::joinable!(agent_slots -> users (user_id));
diesel::joinable!(app_store_notifications -> users (user_id));
diesel::joinable!(assistants -> users (user_id));
diesel::joinable!(automation_jobs -> users (user_id));
diesel::joinable!(automation_results -> automation_jobs (job_id));
diesel::joinable!(automation_results -> users (user_id));
diesel::joinable!(chat_messages -> chat_sessions (session_id));
diesel::joinable!(chat_sessions -> users (user_id));
diesel::joinable!(daily_usage -> users (user_id));
diesel::joinable!(password_reset_tokens -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(subscriptions -> plan_limits (plan));
diesel::joinable!(subscriptions -> users (user_id));
diesel::joinable!(usage_log -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    agent_files,
    agent_slots,
    app_store_notifications,
    assistants,
    automation_jobs,
    automation_results,
    chat_messages,
    chat_sessions,
    daily_usage,
    email_login_codes,
    gateway_shards,
    password_reset_tokens,
    plan_limits,
    refresh_tokens,
    subscriptions,
    usage_log,
    users,
);
