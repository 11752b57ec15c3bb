//! The durable daily usage counters (`daily_usage`).

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{PersistenceError, models::DailyUsage, schema::daily_usage};

/// The user's durable usage counters for `day` (zeros when nothing was used,
/// or the user does not exist). Written by
/// [`turns::record_batch`](super::turns::record_batch), so it may trail
/// the Redis quota counters by the recorder's delay.
pub async fn on_day(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    day: NaiveDate,
) -> Result<DailyUsage, PersistenceError> {
    Ok(daily_usage::table
        .filter(daily_usage::user_id.eq(user_id))
        .filter(daily_usage::usage_date.eq(day))
        .select(DailyUsage::as_select())
        .first(conn)
        .await
        .optional()?
        .unwrap_or_default())
}
