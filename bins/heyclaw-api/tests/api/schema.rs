//! The migrated schema keeps the promises later features rely on.

use diesel::{
    QueryableByName,
    sql_types::{BigInt, Integer, Text},
};
use diesel_async::RunQueryDsl;
use heyclaw_test_support::TestDatabase;

#[derive(QueryableByName, Debug, PartialEq)]
struct PlanRow {
    #[diesel(sql_type = Text)]
    plan: String,
    #[diesel(sql_type = Integer)]
    daily_text_messages: i32,
    #[diesel(sql_type = Integer)]
    daily_voice_input_minutes: i32,
    #[diesel(sql_type = Integer)]
    daily_tts_characters: i32,
}

#[tokio::test]
async fn plans_are_seeded_with_the_seed_numbers() {
    let db = TestDatabase::create().await;
    let mut conn = db.connect().await;
    let plans: Vec<PlanRow> = diesel::sql_query(
        "SELECT plan, daily_text_messages, daily_voice_input_minutes, daily_tts_characters \
         FROM plan_limits ORDER BY daily_text_messages",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let summary: Vec<_> = plans
        .iter()
        .map(|p| {
            (
                p.plan.as_str(),
                p.daily_text_messages,
                p.daily_voice_input_minutes,
                p.daily_tts_characters,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("free", 50, 2, 5000),
            ("starter", 200, 15, 20_000),
            ("pro", 500, 20, 50_000),
            ("premium", 2000, 80, 200_000)
        ]
    );
}

#[tokio::test]
async fn emails_are_unique_whatever_their_case() {
    let db = TestDatabase::create().await;
    let mut conn = db.connect().await;
    diesel::sql_query("INSERT INTO users (email) VALUES ('alice@example.com')")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = diesel::sql_query("INSERT INTO users (email) VALUES ('Alice@Example.com')")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("users_email_lower_key"), "{err}");
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test]
async fn deleting_a_user_cascades_to_everything_they_own() {
    let db = TestDatabase::create().await;
    let mut conn = db.connect().await;
    diesel::sql_query(
        "WITH u AS (INSERT INTO users (email) VALUES ('bob@example.com') RETURNING id),
              s AS (INSERT INTO subscriptions (user_id) SELECT id FROM u),
              a AS (INSERT INTO assistants (user_id, agent_id) SELECT id, 'agent-' || id FROM u),
              d AS (INSERT INTO daily_usage (user_id, usage_date) SELECT id, current_date FROM u),
              l AS (INSERT INTO usage_log (user_id, kind, amount) SELECT id, 'text_message', 1 FROM u),
              r AS (INSERT INTO refresh_tokens (user_id, token_hash, family_id, expires_at)
                    SELECT id, '\\x01', gen_random_uuid(), now() + interval '1 day' FROM u),
              p AS (INSERT INTO password_reset_tokens (user_id, token_hash, expires_at)
                    SELECT id, '\\x02', now() + interval '1 hour' FROM u),
              c AS (INSERT INTO chat_sessions (user_id) SELECT id FROM u RETURNING id)
         INSERT INTO chat_messages (session_id, position, role, content) SELECT id, 0, 'user', 'hi' FROM c",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("DELETE FROM users")
        .execute(&mut conn)
        .await
        .unwrap();
    for table in [
        "subscriptions",
        "assistants",
        "daily_usage",
        "usage_log",
        "refresh_tokens",
        "password_reset_tokens",
        "chat_sessions",
        "chat_messages",
    ] {
        let count: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(count.n, 0, "{table} kept rows of a deleted user");
    }
}

#[tokio::test]
async fn updated_at_is_maintained() {
    let db = TestDatabase::create().await;
    let mut conn = db.connect().await;
    diesel::sql_query(
        "INSERT INTO users (email, created_at, updated_at) VALUES ('c@example.com', now() - interval '1 day', now() - interval '1 day')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("UPDATE users SET name = 'Carol'")
        .execute(&mut conn)
        .await
        .unwrap();
    let count: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM users WHERE updated_at > now() - interval '1 minute'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(count.n, 1);
}

#[tokio::test]
async fn agent_ids_can_only_be_derived_from_a_uuid() {
    let db = TestDatabase::create().await;
    let mut conn = db.connect().await;
    diesel::sql_query("INSERT INTO users (email) VALUES ('d@example.com')")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = diesel::sql_query(
        "INSERT INTO assistants (user_id, agent_id) SELECT id, 'agent-../../etc' FROM users",
    )
    .execute(&mut conn)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("check constraint"), "{err}");
}

/// The turn recorder updates every active user's assistant (and their daily
/// usage) in each batch. While no index covers a column it changes,
/// Postgres can update the row in place (a HOT update) instead of adding an
/// entry to every index of the table.
#[tokio::test]
async fn no_index_covers_what_each_recorded_turn_updates() {
    let db = TestDatabase::create().await;
    let mut conn = db.connect().await;
    #[derive(QueryableByName)]
    struct Indexed {
        #[diesel(sql_type = Text)]
        index: String,
    }
    let indexed: Vec<Indexed> = diesel::sql_query(
        "SELECT DISTINCT i.indexrelid::regclass::text AS index
         FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE (i.indrelid = 'assistants'::regclass
                AND a.attname IN ('message_count', 'last_active_at', 'updated_at'))
            OR (i.indrelid = 'daily_usage'::regclass
                AND a.attname IN ('text_messages', 'voice_input_seconds',
                                  'voice_output_seconds', 'tts_characters', 'updated_at'))",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let names: Vec<&str> = indexed.iter().map(|i| i.index.as_str()).collect();
    assert!(names.is_empty(), "indexed: {names:?}");
}
