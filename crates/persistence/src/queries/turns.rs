//! Recording an answered conversation turn: usage, the assistant's
//! counters and the chat history, in one transaction.

use chrono::NaiveDate;
use diesel::{
    QueryableByName,
    sql_types::{Date, Integer, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{PersistenceError, models::NewChatMessage, queries::chat, transaction};

/// What one answered turn used.
#[derive(Debug, Clone, Copy, Default)]
pub struct TurnUsage {
    /// Text messages charged (1 for a text turn or an automation run, 0
    /// for usage of voice only).
    pub text_messages: i32,
    /// Seconds of voice input transcribed.
    pub voice_input_seconds: i32,
    /// Seconds of speech produced.
    pub voice_output_seconds: i32,
    /// Characters sent to speech synthesis.
    pub tts_characters: i32,
}

#[derive(QueryableByName)]
struct Done {
    #[diesel(sql_type = Integer)]
    #[expect(dead_code, reason = "the row only proves the statement ran")]
    done: i32,
}

/// One answered turn waiting to be recorded.
#[derive(Debug, Clone)]
pub struct TurnRecord {
    /// Whose turn it was.
    pub user_id: Uuid,
    /// The UTC day its usage counts on (the day the quota was reserved for).
    pub day: NaiveDate,
    /// What it used.
    pub usage: TurnUsage,
    /// The messages to append to the user's chat history, in order
    /// (typically the user's and the assistant's); empty for usage only.
    pub messages: Vec<NewChatMessage>,
}

/// Records many turns in one transaction (group commit): the counters of
/// all turns in one set-based statement, then every user's messages in a
/// few more — a constant number of statements however many users the batch
/// holds. Rows are touched in user-id order so concurrent batches (API
/// replicas) cannot deadlock.
///
/// What is written: `daily_usage` (added to, per user and day), one
/// `usage_log` row per non-zero counter, the assistant's `message_count`
/// (added to) and `last_active_at` (the database's `now()`), and the
/// messages, appended to each user's most recent chat session (created,
/// titled `new_session_title`, when they have none) under a per-user
/// advisory lock. The users' rows are key-share locked first, in id order,
/// so an account deletion waits for the batch (or the batch for it) instead
/// of deadlocking with it. All or nothing: one failing record (e.g. a user deleted
/// meanwhile) fails the whole batch, and the caller must retry or split it.
/// Not idempotent: recording a batch twice counts it twice.
///
/// The transaction commits with `synchronous_commit = off`: it returns
/// without waiting for the WAL flush. A PostgreSQL *crash* can lose the last
/// fraction of a second of such records; the daily quota itself is enforced
/// from Redis, and nothing else is at risk (the setting is local to this
/// transaction).
pub async fn record_batch(
    conn: &mut AsyncPgConnection,
    records: &[TurnRecord],
    new_session_title: &str,
) -> Result<(), PersistenceError> {
    use std::collections::BTreeMap;

    use diesel::sql_types::Array;

    // Sum the usage per (user, day); BTreeMap gives the user-id order.
    let mut per_day: BTreeMap<(Uuid, NaiveDate), TurnUsage> = BTreeMap::new();
    let mut messages: BTreeMap<Uuid, Vec<NewChatMessage>> = BTreeMap::new();
    for record in records {
        let sum = per_day.entry((record.user_id, record.day)).or_default();
        sum.text_messages += record.usage.text_messages;
        sum.voice_input_seconds += record.usage.voice_input_seconds;
        sum.voice_output_seconds += record.usage.voice_output_seconds;
        sum.tts_characters += record.usage.tts_characters;
        messages
            .entry(record.user_id)
            .or_default()
            .extend(record.messages.iter().cloned());
    }
    let users: Vec<Uuid> = per_day.keys().map(|(u, _)| *u).collect();
    let days: Vec<NaiveDate> = per_day.keys().map(|(_, d)| *d).collect();
    let column = |f: fn(&TurnUsage) -> i32| per_day.values().map(f).collect::<Vec<i32>>();
    let (text, voice_in, voice_out, tts) = (
        column(|u| u.text_messages),
        column(|u| u.voice_input_seconds),
        column(|u| u.voice_output_seconds),
        column(|u| u.tts_characters),
    );
    transaction(conn, async |conn| {
        diesel::sql_query("SET LOCAL synchronous_commit = off").execute(conn).await?;
        // The users' rows first, in id order. An account deletion locks the
        // user row and then cascades to the assistant and usage rows this
        // batch writes; taking the assistant row first (and the user row
        // only for the foreign keys) deadlocked with a deletion right after
        // a turn. A user deleted before this lock is simply not locked: the
        // batch then fails on its foreign keys and the recorder splits it.
        diesel::sql_query("SELECT 1 FROM users WHERE id = ANY($1) ORDER BY id FOR KEY SHARE")
            .bind::<Array<SqlUuid>, _>(&users)
            .execute(conn)
            .await?;
        diesel::sql_query(
            "WITH used AS (
                 SELECT * FROM unnest($1::uuid[], $2::date[], $3::int[], $4::int[], $5::int[], $6::int[])
                     AS u (user_id, usage_date, text_messages, voice_input_seconds, voice_output_seconds, tts_characters)
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
                 FROM (SELECT user_id, sum(text_messages)::bigint AS n FROM used GROUP BY user_id) AS t
                 WHERE a.user_id = t.user_id
                 RETURNING 1
             )
             SELECT 1 AS done FROM (SELECT count(*) FROM usage) AS written",
        )
        .bind::<Array<SqlUuid>, _>(&users)
        .bind::<Array<Date>, _>(&days)
        .bind::<Array<Integer>, _>(&text)
        .bind::<Array<Integer>, _>(&voice_in)
        .bind::<Array<Integer>, _>(&voice_out)
        .bind::<Array<Integer>, _>(&tts)
        .load::<Done>(conn)
        .await?;
        chat::append_in_transaction(conn, &messages, new_session_title).await?;
        Ok::<_, PersistenceError>(())
    })
    .await
}
