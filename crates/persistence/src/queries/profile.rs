//! The profile screen's data in one call.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::subscriptions::Entitlement;
use crate::{
    PersistenceError,
    models::{Profile, User},
    schema::users,
};

/// The user with the plan in force at `now`, its limits, their assistant and
/// their usage on `now`'s UTC day.
///
/// `None` when the user, or their subscription, does not exist. Four
/// statements, not one snapshot (unless the caller runs it in a
/// repeatable-read transaction); only the assistant's message count and
/// the day's recorded messages are read together. The usage is the durable
/// record, which may trail the Redis quota counters.
pub async fn load(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Profile>, PersistenceError> {
    let today = now.date_naive();
    let Some(user) = users::table
        .filter(users::id.eq(user_id))
        .select(User::as_select())
        .first::<User>(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let Some(Entitlement {
        subscription,
        limits,
    }) = super::subscriptions::entitlement(conn, user_id, now).await?
    else {
        return Ok(None);
    };
    let (assistant, assistant_recorded_today) =
        match super::assistants::for_user_with_day(conn, user_id, today).await? {
            Some((assistant, recorded)) => (Some(assistant), recorded),
            None => (None, 0),
        };
    let usage_today = super::usage::on_day(conn, user_id, today).await?;
    Ok(Some(Profile {
        user,
        subscription,
        limits,
        assistant,
        assistant_recorded_today,
        usage_today,
        usage_date: today,
    }))
}
