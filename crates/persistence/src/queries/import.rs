//! Bulk writes for taking users over from the original server. Each call
//! writes one batch with set-based statements (`unnest` of arrays), and
//! every one is an upsert: importing again updates what changed and adds
//! what is new, and never undoes what happened here since (a password
//! rehashed to argon2id, a subscription Apple has updated, a used agent).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    QueryableByName,
    sql_types::{Array, BigInt, Bool, Date, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::PersistenceError;

#[derive(QueryableByName)]
struct Owner {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    email: String,
}

/// Which of `emails` (lower-case) already belong to an account, and whose:
/// `(lower-cased email, user id)` pairs, in no particular order; addresses
/// nobody has are absent.
pub async fn owners_of_emails(
    conn: &mut AsyncPgConnection,
    emails: &[String],
) -> Result<Vec<(String, Uuid)>, PersistenceError> {
    let owners: Vec<Owner> = diesel::sql_query(
        "SELECT id, lower(email) AS email FROM users WHERE lower(email) = ANY($1)",
    )
    .bind::<Array<Text>, _>(emails)
    .load(conn)
    .await?;
    Ok(owners.into_iter().map(|o| (o.email, o.id)).collect())
}

#[derive(QueryableByName)]
struct Holder {
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Text)]
    value: String,
}

/// Which of `subs` (Sign in with Apple ids) already belong to an account:
/// `(sub, user id)` pairs; absent when free.
pub async fn owners_of_apple_subs(
    conn: &mut AsyncPgConnection,
    subs: &[String],
) -> Result<Vec<(String, Uuid)>, PersistenceError> {
    let holders: Vec<Holder> = diesel::sql_query(
        "SELECT id AS user_id, apple_sub AS value FROM users WHERE apple_sub = ANY($1)",
    )
    .bind::<Array<Text>, _>(subs)
    .load(conn)
    .await?;
    Ok(holders.into_iter().map(|h| (h.value, h.user_id)).collect())
}

/// Which of `ids` (Apple original transaction ids) are linked to an account:
/// `(transaction id, user id)` pairs; absent when free.
pub async fn owners_of_transactions(
    conn: &mut AsyncPgConnection,
    ids: &[String],
) -> Result<Vec<(String, Uuid)>, PersistenceError> {
    let holders: Vec<Holder> = diesel::sql_query(
        "SELECT user_id, apple_original_transaction_id AS value FROM subscriptions \
         WHERE apple_original_transaction_id = ANY($1)",
    )
    .bind::<Array<Text>, _>(ids)
    .load(conn)
    .await?;
    Ok(holders.into_iter().map(|h| (h.value, h.user_id)).collect())
}

/// A batch of users, column by column: the `n`th entry of every vector is
/// the `n`th user, so all must have the same length (`unnest` pads shorter
/// arrays with `NULL`s, which the table then refuses). The same holds for
/// every batch type here.
#[derive(Debug, Default)]
pub struct Users {
    /// User ids (the original's, kept).
    pub id: Vec<Uuid>,
    /// Addresses, normalised (unique whatever the case).
    pub email: Vec<String>,
    /// Names.
    pub name: Vec<Option<String>>,
    /// Password hashes (legacy bcrypt), `None` for none.
    pub password_hash: Vec<Option<String>>,
    /// Sign in with Apple subjects (unique).
    pub apple_sub: Vec<Option<String>>,
    /// Avatar URLs.
    pub avatar_url: Vec<Option<String>>,
    /// `active` or `suspended`.
    pub status: Vec<String>,
    /// Creation times.
    pub created_at: Vec<DateTime<Utc>>,
}

/// Upserts users by id and returns the rows written. A password hash
/// already replaced by argon2id here is kept; every other column is
/// overwritten, except the creation time and the time zone. An address or
/// Apple subject that another user holds fails the whole batch with a
/// unique violation: check first with [`owners_of_emails`] and
/// [`owners_of_apple_subs`]. A new user gets no subscription or assistant
/// row here: import those too.
pub async fn upsert_users(
    conn: &mut AsyncPgConnection,
    users: &Users,
) -> Result<usize, PersistenceError> {
    Ok(diesel::sql_query(
        "INSERT INTO users AS u (id, email, name, password_hash, apple_sub, avatar_url, status, created_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
         ON CONFLICT (id) DO UPDATE SET
             email = EXCLUDED.email,
             name = EXCLUDED.name,
             avatar_url = EXCLUDED.avatar_url,
             apple_sub = EXCLUDED.apple_sub,
             status = EXCLUDED.status,
             password_hash = CASE WHEN u.password_hash LIKE '$argon2%' THEN u.password_hash
                                  ELSE EXCLUDED.password_hash END",
    )
    .bind::<Array<SqlUuid>, _>(&users.id)
    .bind::<Array<Text>, _>(&users.email)
    .bind::<Array<Nullable<Text>>, _>(&users.name)
    .bind::<Array<Nullable<Text>>, _>(&users.password_hash)
    .bind::<Array<Nullable<Text>>, _>(&users.apple_sub)
    .bind::<Array<Nullable<Text>>, _>(&users.avatar_url)
    .bind::<Array<Text>, _>(&users.status)
    .bind::<Array<Timestamptz>, _>(&users.created_at)
    .execute(conn)
    .await?)
}

/// A batch of subscriptions (one per user), column by column.
#[derive(Debug, Default)]
pub struct Subscriptions {
    /// Whose subscription.
    pub user_id: Vec<Uuid>,
    /// Plans (must exist in `plan_limits`).
    pub plan: Vec<String>,
    /// Statuses (one the table's check allows).
    pub status: Vec<String>,
    /// Apple original transaction ids (unique across users).
    pub original_transaction_id: Vec<Option<String>>,
    /// Apple product ids.
    pub product_id: Vec<Option<String>>,
    /// Ends of the paid periods.
    pub period_end: Vec<Option<DateTime<Utc>>>,
}

/// Upserts subscriptions by user. One that Apple's data has updated here
/// (`apple_signed_at` set) is newer than the original's and kept. Returns
/// the rows written (kept ones not counted). A transaction id linked to
/// another user fails the batch (unique violation): check first with
/// [`owners_of_transactions`].
pub async fn upsert_subscriptions(
    conn: &mut AsyncPgConnection,
    subscriptions: &Subscriptions,
) -> Result<usize, PersistenceError> {
    Ok(diesel::sql_query(
        "INSERT INTO subscriptions AS s (user_id, plan, status, apple_original_transaction_id, apple_product_id, current_period_end)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
         ON CONFLICT (user_id) DO UPDATE SET
             plan = EXCLUDED.plan,
             status = EXCLUDED.status,
             apple_original_transaction_id = EXCLUDED.apple_original_transaction_id,
             apple_product_id = EXCLUDED.apple_product_id,
             current_period_end = EXCLUDED.current_period_end
         WHERE s.apple_signed_at IS NULL",
    )
    .bind::<Array<SqlUuid>, _>(&subscriptions.user_id)
    .bind::<Array<Text>, _>(&subscriptions.plan)
    .bind::<Array<Text>, _>(&subscriptions.status)
    .bind::<Array<Nullable<Text>>, _>(&subscriptions.original_transaction_id)
    .bind::<Array<Nullable<Text>>, _>(&subscriptions.product_id)
    .bind::<Array<Nullable<Timestamptz>>, _>(&subscriptions.period_end)
    .execute(conn)
    .await?)
}

/// A batch of assistants (one per user), column by column.
#[derive(Debug, Default)]
pub struct Assistants {
    /// Whose assistant.
    pub user_id: Vec<Uuid>,
    /// `agent-<user id>`.
    pub agent_id: Vec<String>,
    /// Display names (1 to 100 characters).
    pub display_name: Vec<String>,
    /// Voice names.
    pub voice: Vec<String>,
    /// Shards, for new rows only.
    pub gateway_id: Vec<String>,
    /// Statuses, for new rows only.
    pub status: Vec<String>,
    /// Last activity.
    pub last_active_at: Vec<Option<DateTime<Utc>>>,
    /// Messages counted so far.
    pub message_count: Vec<i64>,
}

/// Upserts assistants by user and returns the rows written. Here, the
/// status is ours once set (the roster decides it), and the message count
/// never goes down. Of an existing row only the display name and voice are
/// overwritten and the activity and count raised; its agent id, shard and
/// status stay.
pub async fn upsert_assistants(
    conn: &mut AsyncPgConnection,
    assistants: &Assistants,
) -> Result<usize, PersistenceError> {
    Ok(diesel::sql_query(
        "INSERT INTO assistants AS a (user_id, agent_id, display_name, voice, gateway_id, status, last_active_at, message_count)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[])
         ON CONFLICT (user_id) DO UPDATE SET
             display_name = EXCLUDED.display_name,
             voice = EXCLUDED.voice,
             last_active_at = greatest(a.last_active_at, EXCLUDED.last_active_at),
             message_count = greatest(a.message_count, EXCLUDED.message_count)",
    )
    .bind::<Array<SqlUuid>, _>(&assistants.user_id)
    .bind::<Array<Text>, _>(&assistants.agent_id)
    .bind::<Array<Text>, _>(&assistants.display_name)
    .bind::<Array<Text>, _>(&assistants.voice)
    .bind::<Array<Text>, _>(&assistants.gateway_id)
    .bind::<Array<Text>, _>(&assistants.status)
    .bind::<Array<Nullable<Timestamptz>>, _>(&assistants.last_active_at)
    .bind::<Array<BigInt>, _>(&assistants.message_count)
    .execute(conn)
    .await?)
}

/// A batch of usage rows (one per user and day), column by column.
#[derive(Debug, Default)]
pub struct Usage {
    /// Whose usage.
    pub user_id: Vec<Uuid>,
    /// The UTC day.
    pub day: Vec<NaiveDate>,
    /// Text messages.
    pub text_messages: Vec<i32>,
    /// Seconds of voice input.
    pub voice_input_seconds: Vec<i32>,
    /// Seconds of speech output.
    pub voice_output_seconds: Vec<i32>,
    /// Characters of speech synthesized.
    pub tts_characters: Vec<i32>,
}

/// Upserts usage rows by user and day and returns the rows written; each
/// counter keeps the larger of the two (usage here is never lowered). The
/// Redis quota counters are not touched: a counter already seeded for the
/// day keeps its value until it expires.
pub async fn upsert_usage(
    conn: &mut AsyncPgConnection,
    usage: &Usage,
) -> Result<usize, PersistenceError> {
    Ok(diesel::sql_query(
        "INSERT INTO daily_usage AS d (user_id, usage_date, text_messages, voice_input_seconds, voice_output_seconds, tts_characters)
         SELECT * FROM unnest($1::uuid[], $2::date[], $3::int[], $4::int[], $5::int[], $6::int[])
         ON CONFLICT (user_id, usage_date) DO UPDATE SET
             text_messages = greatest(d.text_messages, EXCLUDED.text_messages),
             voice_input_seconds = greatest(d.voice_input_seconds, EXCLUDED.voice_input_seconds),
             voice_output_seconds = greatest(d.voice_output_seconds, EXCLUDED.voice_output_seconds),
             tts_characters = greatest(d.tts_characters, EXCLUDED.tts_characters)",
    )
    .bind::<Array<SqlUuid>, _>(&usage.user_id)
    .bind::<Array<Date>, _>(&usage.day)
    .bind::<Array<Integer>, _>(&usage.text_messages)
    .bind::<Array<Integer>, _>(&usage.voice_input_seconds)
    .bind::<Array<Integer>, _>(&usage.voice_output_seconds)
    .bind::<Array<Integer>, _>(&usage.tts_characters)
    .execute(conn)
    .await?)
}

/// A batch of chat sessions and their messages (messages refer to sessions
/// by id; `position` orders them within one).
#[derive(Debug, Default)]
pub struct Chats {
    /// Session ids (the original's, kept).
    pub id: Vec<Uuid>,
    /// Whose session.
    pub user_id: Vec<Uuid>,
    /// Titles (at most 200 characters).
    pub title: Vec<String>,
    /// Creation times.
    pub created_at: Vec<DateTime<Utc>>,
    /// Last changes (also the messages' creation time).
    pub updated_at: Vec<DateTime<Utc>>,
    /// For each message, its session's id (one of `id`).
    pub message_session: Vec<Uuid>,
    /// For each message, its position (from 0, unique within the session).
    pub message_position: Vec<i32>,
    /// For each message, the client's id for it.
    pub message_client_id: Vec<Option<String>>,
    /// For each message, `user`, `assistant` or `system`.
    pub message_role: Vec<String>,
    /// For each message, its text.
    pub message_content: Vec<String>,
    /// For each message, whether it was spoken.
    pub message_is_voice: Vec<bool>,
}

/// Upserts sessions by id (of the same user only) and replaces their
/// messages with the batch's, in one transaction. Returns the sessions
/// written. Messages added here since an earlier import are replaced too.
///
/// A session id that exists here under another user is left alone, messages
/// and all: the batch's session and its messages are skipped (and not
/// counted), so an id collision can never put one user's messages into
/// another's chat.
pub async fn replace_chats(
    conn: &mut AsyncPgConnection,
    chats: &Chats,
) -> Result<usize, PersistenceError> {
    crate::transaction(conn, async |conn| {
        let sessions = diesel::sql_query(
            "INSERT INTO chat_sessions AS c (id, user_id, title, created_at, updated_at)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[])
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, updated_at = EXCLUDED.updated_at
             WHERE c.user_id = EXCLUDED.user_id",
        )
        .bind::<Array<SqlUuid>, _>(&chats.id)
        .bind::<Array<SqlUuid>, _>(&chats.user_id)
        .bind::<Array<Text>, _>(&chats.title)
        .bind::<Array<Timestamptz>, _>(&chats.created_at)
        .bind::<Array<Timestamptz>, _>(&chats.updated_at)
        .execute(conn)
        .await?;
        // Sessions are matched by (id, user), never by id alone.
        diesel::sql_query(
            "DELETE FROM chat_messages m
             USING chat_sessions c, unnest($1::uuid[], $2::uuid[]) AS b (id, user_id)
             WHERE m.session_id = c.id AND c.id = b.id AND c.user_id = b.user_id",
        )
        .bind::<Array<SqlUuid>, _>(&chats.id)
        .bind::<Array<SqlUuid>, _>(&chats.user_id)
        .execute(conn)
        .await?;
        diesel::sql_query(
            "INSERT INTO chat_messages (session_id, position, client_id, role, content, is_voice, created_at)
             SELECT m.session_id, m.position, m.client_id, m.role, m.content, m.is_voice, c.updated_at
             FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bool[])
                 AS m (session_id, position, client_id, role, content, is_voice)
             JOIN unnest($7::uuid[], $8::uuid[]) AS b (id, user_id) ON b.id = m.session_id
             JOIN chat_sessions c ON c.id = b.id AND c.user_id = b.user_id",
        )
        .bind::<Array<SqlUuid>, _>(&chats.message_session)
        .bind::<Array<Integer>, _>(&chats.message_position)
        .bind::<Array<Nullable<Text>>, _>(&chats.message_client_id)
        .bind::<Array<Text>, _>(&chats.message_role)
        .bind::<Array<Text>, _>(&chats.message_content)
        .bind::<Array<Bool>, _>(&chats.message_is_voice)
        .bind::<Array<SqlUuid>, _>(&chats.id)
        .bind::<Array<SqlUuid>, _>(&chats.user_id)
        .execute(conn)
        .await?;
        Ok::<_, PersistenceError>(sessions)
    })
    .await
}

/// A batch of automation results, column by column. They belong to no job
/// here (`job_id` is `NULL`) and are stored with status `ok`.
#[derive(Debug, Default)]
pub struct Results {
    /// Result ids (the original's, kept).
    pub id: Vec<Uuid>,
    /// Whose result.
    pub user_id: Vec<Uuid>,
    /// The job's name.
    pub job_name: Vec<String>,
    /// What the run produced.
    pub result: Vec<String>,
    /// When it ran.
    pub run_at: Vec<DateTime<Utc>>,
    /// Whether the user has seen it.
    pub seen: Vec<bool>,
}

/// Upserts results by id. They count as delivered (the original's app had
/// them, so [`take_undelivered`](super::automations::take_undelivered)
/// never returns them); `seen` only ever turns true. Returns the rows
/// written.
pub async fn upsert_results(
    conn: &mut AsyncPgConnection,
    results: &Results,
) -> Result<usize, PersistenceError> {
    Ok(diesel::sql_query(
        "INSERT INTO automation_results AS r (id, user_id, job_name, result, run_at, seen, status, delivered)
         SELECT r.*, 'ok', true FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[])
             AS r (id, user_id, job_name, result, run_at, seen)
         ON CONFLICT (id) DO UPDATE SET seen = r.seen OR EXCLUDED.seen",
    )
    .bind::<Array<SqlUuid>, _>(&results.id)
    .bind::<Array<SqlUuid>, _>(&results.user_id)
    .bind::<Array<Text>, _>(&results.job_name)
    .bind::<Array<Text>, _>(&results.result)
    .bind::<Array<Timestamptz>, _>(&results.run_at)
    .bind::<Array<Bool>, _>(&results.seen)
    .execute(conn)
    .await?)
}
