//! The original Node/Hono server's tables, read only — for taking its users
//! over (`cargo xtask import-original`). Reads run in one read-only,
//! repeatable-read transaction ([`begin_snapshot`]), so the import sees one
//! consistent state and can never write to the original.
//!
//! Timestamps there are `TIMESTAMP` without time zone, written in UTC.
//! Numeric columns are cast to `float8`, JSON to text, in the queries.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::{
    QueryableByName,
    sql_types::{Bool, Date, Double, Nullable, Text, Timestamp, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

use crate::PersistenceError;

/// Starts a read-only, repeatable-read transaction on the original: every
/// read after it sees one snapshot, and no write can happen.
pub async fn begin_snapshot(conn: &mut AsyncPgConnection) -> Result<(), PersistenceError> {
    Ok(conn
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?)
}

/// Ends the snapshot (nothing was written: this only releases it).
pub async fn end_snapshot(conn: &mut AsyncPgConnection) -> Result<(), PersistenceError> {
    Ok(conn.batch_execute("ROLLBACK").await?)
}

/// Whether `conn` reaches a database in the original's shape.
pub async fn looks_original(conn: &mut AsyncPgConnection) -> Result<bool, PersistenceError> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Bool)]
        found: bool,
    }
    let found: Found = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
         WHERE table_name = 'users' AND column_name = 'apple_user_id') AS found",
    )
    .get_result(conn)
    .await?;
    Ok(found.found)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalUser {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Text)]
    pub password_hash: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub avatar_url: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub apple_user_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
}

pub async fn users(conn: &mut AsyncPgConnection) -> Result<Vec<OriginalUser>, PersistenceError> {
    Ok(diesel::sql_query(
        "SELECT id, email, password_hash, name, avatar_url, apple_user_id, status, \
         coalesce(created_at, now()::timestamp) AS created_at FROM users ORDER BY created_at, id",
    )
    .load(conn)
    .await?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalSubscription {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub plan: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub apple_original_transaction_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub apple_product_id: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub period_end: Option<NaiveDateTime>,
}

pub async fn subscriptions(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<OriginalSubscription>, PersistenceError> {
    Ok(diesel::sql_query(
        "SELECT user_id, plan, status, apple_original_transaction_id, apple_product_id, \
         coalesce(subscription_ends_at, current_period_end) AS period_end FROM subscriptions",
    )
    .load(conn)
    .await?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalAssistant {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub agent_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub display_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub voice: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub last_active_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Double)]
    pub message_count: f64,
}

pub async fn assistants(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<OriginalAssistant>, PersistenceError> {
    Ok(diesel::sql_query(
        "SELECT user_id, agent_id, display_name, voice, status, last_active_at, \
         coalesce(message_count, 0)::float8 AS message_count FROM assistants",
    )
    .load(conn)
    .await?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalUsage {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = Date)]
    pub date: NaiveDate,
    #[diesel(sql_type = Double)]
    pub text_messages: f64,
    #[diesel(sql_type = Double)]
    pub voice_input_seconds: f64,
    #[diesel(sql_type = Double)]
    pub voice_output_seconds: f64,
    #[diesel(sql_type = Double)]
    pub tts_characters: f64,
}

/// The usage rows of one day.
pub async fn usage_on(
    conn: &mut AsyncPgConnection,
    day: NaiveDate,
) -> Result<Vec<OriginalUsage>, PersistenceError> {
    Ok(diesel::sql_query(
        "SELECT user_id, date, coalesce(text_messages, 0)::float8 AS text_messages, \
         coalesce(voice_input_seconds, 0)::float8 AS voice_input_seconds, \
         coalesce(voice_output_seconds, 0)::float8 AS voice_output_seconds, \
         coalesce(tts_characters, 0)::float8 AS tts_characters \
         FROM daily_usage WHERE date = $1",
    )
    .bind::<Date, _>(day)
    .load(conn)
    .await?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalChatSession {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub title: Option<String>,
    /// The `messages` JSON as text.
    #[diesel(sql_type = Nullable<Text>)]
    pub messages: Option<String>,
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    pub updated_at: NaiveDateTime,
}

/// Chat sessions in id order, `limit` after `after` (keyset pages).
pub async fn chat_sessions_page(
    conn: &mut AsyncPgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OriginalChatSession>, PersistenceError> {
    Ok(diesel::sql_query(
        "SELECT id, user_id, title, messages::text AS messages, \
         coalesce(created_at, now()::timestamp) AS created_at, \
         coalesce(updated_at, created_at, now()::timestamp) AS updated_at \
         FROM chat_sessions WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
    )
    .bind::<Nullable<SqlUuid>, _>(after)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalAutomationResult {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub job_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub result: Option<String>,
    #[diesel(sql_type = Timestamp)]
    pub run_at: NaiveDateTime,
    #[diesel(sql_type = Bool)]
    pub seen: bool,
}

pub async fn automation_results(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<OriginalAutomationResult>, PersistenceError> {
    Ok(diesel::sql_query(
        "SELECT id, user_id, job_name, result, \
         coalesce(run_at, created_at, now()::timestamp) AS run_at, coalesce(seen, false) AS seen \
         FROM automation_results",
    )
    .load(conn)
    .await?)
}

/// How many rows a table of the original has (for the report).
pub async fn count(conn: &mut AsyncPgConnection, table: &str) -> Result<i64, PersistenceError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    // `table` is one of ours, never user input.
    let count: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result(conn)
        .await?;
    Ok(count.n)
}
