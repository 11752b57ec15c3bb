use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{PersistenceError, schema::daily_usage};

/// Text messages counted for the user on `day` (the durable count).
pub async fn text_messages_on(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    day: NaiveDate,
) -> Result<i32, PersistenceError> {
    Ok(daily_usage::table
        .filter(daily_usage::user_id.eq(user_id))
        .filter(daily_usage::usage_date.eq(day))
        .select(daily_usage::text_messages)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(0))
}

/// Voice seconds (input and output) counted for the user on `day`.
pub async fn voice_seconds_on(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    day: NaiveDate,
) -> Result<i32, PersistenceError> {
    Ok(daily_usage::table
        .filter(daily_usage::user_id.eq(user_id))
        .filter(daily_usage::usage_date.eq(day))
        .select(daily_usage::voice_input_seconds + daily_usage::voice_output_seconds)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(0))
}

/// Characters spoken by text-to-speech for the user on `day`.
pub async fn tts_characters_on(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    day: NaiveDate,
) -> Result<i32, PersistenceError> {
    Ok(daily_usage::table
        .filter(daily_usage::user_id.eq(user_id))
        .filter(daily_usage::usage_date.eq(day))
        .select(daily_usage::tts_characters)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(0))
}
