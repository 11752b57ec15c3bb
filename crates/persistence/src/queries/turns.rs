//! Recording an answered conversation turn: usage, the assistant's
//! counters and the chat history, in one transaction.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::sql_types::{Array, Bool, Date, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{PersistenceError, models::NewChatMessage};

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

/// Records many turns in one transaction (group commit): one call of the
/// database function `heyclaw_record_turns` (migration
/// `2026-12-06-000013_record_turns_function`), whatever the number of users
/// — one round trip, with the plans the function keeps for the
/// connection. Rows are touched in user-id order so concurrent batches (API
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
    // Sum the usage per (user, day); BTreeMap gives the user-id order.
    let mut per_day: BTreeMap<(Uuid, NaiveDate), TurnUsage> = BTreeMap::new();
    let mut messages: BTreeMap<Uuid, Vec<&NewChatMessage>> = BTreeMap::new();
    for record in records {
        let sum = per_day.entry((record.user_id, record.day)).or_default();
        sum.text_messages += record.usage.text_messages;
        sum.voice_input_seconds += record.usage.voice_input_seconds;
        sum.voice_output_seconds += record.usage.voice_output_seconds;
        sum.tts_characters += record.usage.tts_characters;
        if !record.messages.is_empty() {
            messages
                .entry(record.user_id)
                .or_default()
                .extend(&record.messages);
        }
    }
    let users: Vec<Uuid> = per_day.keys().map(|(u, _)| *u).collect();
    let days: Vec<NaiveDate> = per_day.keys().map(|(_, d)| *d).collect();
    let column = |f: fn(&TurnUsage) -> i32| per_day.values().map(f).collect::<Vec<i32>>();
    let mut rows = MessageColumns::default();
    for (user, list) in &messages {
        for message in list {
            rows.push(*user, message);
        }
    }
    diesel::sql_query(
        "SELECT heyclaw_record_turns($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind::<Array<SqlUuid>, _>(&users)
    .bind::<Array<Date>, _>(&days)
    .bind::<Array<Integer>, _>(column(|u| u.text_messages))
    .bind::<Array<Integer>, _>(column(|u| u.voice_input_seconds))
    .bind::<Array<Integer>, _>(column(|u| u.voice_output_seconds))
    .bind::<Array<Integer>, _>(column(|u| u.tts_characters))
    .bind::<Array<SqlUuid>, _>(&rows.user_id)
    .bind::<Array<Nullable<Text>>, _>(&rows.client_id)
    .bind::<Array<Text>, _>(&rows.role)
    .bind::<Array<Text>, _>(&rows.content)
    .bind::<Array<Bool>, _>(&rows.is_voice)
    .bind::<Text, _>(new_session_title)
    .execute(conn)
    .await?;
    Ok(())
}

/// Messages to append, column by column (bound as arrays to `unnest`: five
/// parameters however many rows), grouped by user in user-id order.
#[derive(Default)]
struct MessageColumns<'a> {
    user_id: Vec<Uuid>,
    client_id: Vec<Option<&'a str>>,
    role: Vec<&'a str>,
    content: Vec<&'a str>,
    is_voice: Vec<bool>,
}

impl<'a> MessageColumns<'a> {
    fn push(&mut self, user_id: Uuid, message: &'a NewChatMessage) {
        self.user_id.push(user_id);
        self.client_id.push(message.client_id.as_deref());
        self.role.push(&message.role);
        self.content.push(&message.content);
        self.is_voice.push(message.is_voice);
    }
}
