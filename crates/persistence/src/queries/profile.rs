use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    PersistenceError,
    models::{PlanLimitsRow, Profile, Subscription, User},
    schema::{plan_limits, subscriptions, users},
};

/// The user with their plan, limits, assistant and usage on `today`.
pub async fn load(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    today: NaiveDate,
) -> Result<Option<Profile>, PersistenceError> {
    let Some((user, subscription, limits)) = users::table
        .inner_join(subscriptions::table.inner_join(plan_limits::table))
        .filter(users::id.eq(user_id))
        .select((
            User::as_select(),
            Subscription::as_select(),
            PlanLimitsRow::as_select(),
        ))
        .first::<(User, Subscription, PlanLimitsRow)>(conn)
        .await
        .optional()?
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
