//! The original Node/Hono server's tables, read only — for taking its users
//! over (`cargo xtask import-original`). Reads run in one read-only,
//! repeatable-read transaction ([`begin_snapshot`]), so the import sees one
//! consistent state and can never write to the original.
//!
//! Timestamps there are `TIMESTAMP` without time zone, written in UTC.
//! Numeric columns are cast to `float8`, JSON to text, in the queries.
//! Missing counters read as 0 and missing creation times as the time of the
//! read (`now()`), so a row never fails to decode for a `NULL`. The rows
//! are as the original holds them: normalising and deduplicating is the
//! importer's job (`heyclaw_app::import`).
//!
//! The connection is to the *original's* database, not ours; a query on a
//! database of another shape fails with a `Query` error (check first with
//! [`looks_original`]).

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
///
/// A plain `BEGIN`, outside diesel's transaction bookkeeping: do not use
/// [`transaction`](crate::transaction) on this connection until
/// [`end_snapshot`]; a connection dropped in between ends it (the server
/// rolls it back).
pub async fn begin_snapshot(conn: &mut AsyncPgConnection) -> Result<(), PersistenceError> {
    Ok(conn
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?)
}

/// Ends the snapshot (nothing was written: this only releases it) with a
/// `ROLLBACK`.
pub async fn end_snapshot(conn: &mut AsyncPgConnection) -> Result<(), PersistenceError> {
    Ok(conn.batch_execute("ROLLBACK").await?)
}

/// Whether `conn` reaches a database in the original's shape: its `users`
/// table has the `apple_user_id` column (ours has `apple_sub`). A guard
/// against importing from the wrong database, not a full schema check.
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

/// A user of the original, as stored there.
#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalUser {
    /// The user's id (kept as ours).
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// The address as the original stored it (not normalised; may differ
    /// only in case from another user's).
    #[diesel(sql_type = Text)]
    pub email: String,
    /// The original's password hash as stored: bcrypt, or a placeholder for
    /// accounts without a password (the importer tells them apart).
    #[diesel(sql_type = Text)]
    pub password_hash: String,
    /// The user's name, if any.
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    /// The avatar URL, if any.
    #[diesel(sql_type = Nullable<Text>)]
    pub avatar_url: Option<String>,
    /// The Sign in with Apple subject, if linked (our `apple_sub`).
    #[diesel(sql_type = Nullable<Text>)]
    pub apple_user_id: Option<String>,
    /// The original's status text, if set.
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    /// Creation time, UTC without zone; the time of the read when missing.
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
}

/// Every user of the original, oldest first (then by id).
pub async fn users(conn: &mut AsyncPgConnection) -> Result<Vec<OriginalUser>, PersistenceError> {
    Ok(diesel::sql_query(
        "SELECT id, email, password_hash, name, avatar_url, apple_user_id, status, \
         coalesce(created_at, now()::timestamp) AS created_at FROM users ORDER BY created_at, id",
    )
    .load(conn)
    .await?)
}

/// A subscription of the original.
#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalSubscription {
    /// Whose subscription it is (a user may have several rows there).
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    /// The plan name as the original wrote it, if set.
    #[diesel(sql_type = Nullable<Text>)]
    pub plan: Option<String>,
    /// The status as the original wrote it, if set.
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    /// Apple's original transaction id of the purchase, if any.
    #[diesel(sql_type = Nullable<Text>)]
    pub apple_original_transaction_id: Option<String>,
    /// Apple's product id, if any.
    #[diesel(sql_type = Nullable<Text>)]
    pub apple_product_id: Option<String>,
    /// When the paid period ends: `subscription_ends_at`, else
    /// `current_period_end`; UTC without zone.
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub period_end: Option<NaiveDateTime>,
}

/// Every subscription row of the original, in no particular order.
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

/// An assistant of the original.
#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalAssistant {
    /// Whose assistant it is.
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    /// The original's agent id, if set (ours is derived from the user id).
    #[diesel(sql_type = Nullable<Text>)]
    pub agent_id: Option<String>,
    /// The display name, if set.
    #[diesel(sql_type = Nullable<Text>)]
    pub display_name: Option<String>,
    /// The voice name, if set (may not be one of ours).
    #[diesel(sql_type = Nullable<Text>)]
    pub voice: Option<String>,
    /// The original's status text, if set.
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    /// Last activity, UTC without zone, if any.
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub last_active_at: Option<NaiveDateTime>,
    /// Messages counted (0 when missing), as a float: the column is numeric.
    #[diesel(sql_type = Double)]
    pub message_count: f64,
}

/// Every assistant row of the original, in no particular order.
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

/// One user's usage on one day in the original. Counters are floats (the
/// columns are numeric) and 0 when missing.
#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalUsage {
    /// Whose usage it is.
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    /// The day.
    #[diesel(sql_type = Date)]
    pub date: NaiveDate,
    /// Text messages.
    #[diesel(sql_type = Double)]
    pub text_messages: f64,
    /// Seconds of voice input.
    #[diesel(sql_type = Double)]
    pub voice_input_seconds: f64,
    /// Seconds of speech output.
    #[diesel(sql_type = Double)]
    pub voice_output_seconds: f64,
    /// Characters of speech synthesized.
    #[diesel(sql_type = Double)]
    pub tts_characters: f64,
}

/// The usage rows of one day (the import takes only the current day's, the
/// one quotas count against).
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

/// A chat session of the original, its messages still in one JSON value.
#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalChatSession {
    /// The session's id (kept as ours).
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// Whose session it is.
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    /// The title, if set.
    #[diesel(sql_type = Nullable<Text>)]
    pub title: Option<String>,
    /// The `messages` JSON as text.
    #[diesel(sql_type = Nullable<Text>)]
    pub messages: Option<String>,
    /// Creation time, UTC without zone; the time of the read when missing.
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
    /// Last change, UTC without zone; the creation time when missing.
    #[diesel(sql_type = Timestamp)]
    pub updated_at: NaiveDateTime,
}

/// Chat sessions in id order, `limit` after `after` (keyset pages): pass
/// `None` for the first page, then the last id of the previous page; an
/// empty page means done.
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

/// An automation run's result in the original.
#[derive(Debug, Clone, QueryableByName)]
pub struct OriginalAutomationResult {
    /// The result's id (kept as ours).
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// Whose result it is.
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    /// The job's name, if recorded.
    #[diesel(sql_type = Nullable<Text>)]
    pub job_name: Option<String>,
    /// What the run produced, if recorded.
    #[diesel(sql_type = Nullable<Text>)]
    pub result: Option<String>,
    /// When it ran (else when it was created, else the time of the read),
    /// UTC without zone.
    #[diesel(sql_type = Timestamp)]
    pub run_at: NaiveDateTime,
    /// Whether the user has seen it (false when missing).
    #[diesel(sql_type = Bool)]
    pub seen: bool,
}

/// Every automation result of the original, in no particular order (all at
/// once, unpaged).
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
///
/// `table` is put into the SQL as it is, unquoted and unchecked: pass only
/// a fixed table name of the original, never anything from input. A
/// missing table is a `Query` error.
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
