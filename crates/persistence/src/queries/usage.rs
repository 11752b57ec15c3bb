use chrono::NaiveDate;
use diesel::{prelude::*, upsert::excluded};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    PersistenceError,
    schema::{daily_usage, usage_log},
};

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

/// Adds one answered text message to the day's durable count and the log.
pub async fn add_text_message(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    day: NaiveDate,
) -> Result<(), PersistenceError> {
    diesel::insert_into(daily_usage::table)
        .values((
            daily_usage::user_id.eq(user_id),
            daily_usage::usage_date.eq(day),
            daily_usage::text_messages.eq(1),
        ))
        .on_conflict((daily_usage::user_id, daily_usage::usage_date))
        .do_update()
        .set(
            daily_usage::text_messages
                .eq(daily_usage::text_messages + excluded(daily_usage::text_messages)),
        )
        .execute(conn)
        .await?;
    diesel::insert_into(usage_log::table)
        .values((
            usage_log::user_id.eq(user_id),
            usage_log::kind.eq("text_message"),
            usage_log::amount.eq(1),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
