//! Users' assistants (one per user): reading them with their plan or the
//! day's count, their shard census, personality and residence status.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::subscriptions::effective_plan;
use crate::{
    PersistenceError,
    models::{Assistant, PlanLimitsRow},
    schema::{assistants, daily_usage, plan_limits, subscriptions},
};

/// Created with its account, not yet placed on a shard.
pub const STATUS_PROVISIONING: &str = "provisioning";
/// Resident: bound to a slot of its shard.
pub const STATUS_ACTIVE: &str = "active";
/// Placing or provisioning gave up; retried later.
pub const STATUS_FAILED: &str = "failed";
/// Not resident: bound to no slot, its workspace files archived in
/// `agent_files`.
pub const STATUS_HIBERNATED: &str = "hibernated";

/// The user's assistant.
pub async fn for_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<Option<Assistant>, PersistenceError> {
    Ok(assistants::table
        .filter(assistants::user_id.eq(user_id))
        .select(Assistant::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The user's assistant with the text messages recorded for it on `day`,
/// read in one statement — one snapshot — so the two counts agree: a turn
/// recorded meanwhile is in both or in neither.
pub async fn for_user_with_day(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    day: NaiveDate,
) -> Result<Option<(Assistant, i32)>, PersistenceError> {
    let found: Option<(Assistant, Option<i32>)> = assistants::table
        .left_join(
            daily_usage::table.on(daily_usage::user_id
                .eq(assistants::user_id)
                .and(daily_usage::usage_date.eq(day))),
        )
        .filter(assistants::user_id.eq(user_id))
        .select((
            Assistant::as_select(),
            daily_usage::text_messages.nullable(),
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(found.map(|(assistant, today)| (assistant, today.unwrap_or(0))))
}

/// What the message path needs in one round trip: the user's assistant,
/// the plan in force at `now` (a lapsed paid plan is `free`) and its
/// limits. `None` when the user has no assistant or no subscription.
pub async fn with_plan(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<(Assistant, String, PlanLimitsRow)>, PersistenceError> {
    Ok(assistants::table
        .inner_join(subscriptions::table.on(subscriptions::user_id.eq(assistants::user_id)))
        .inner_join(plan_limits::table.on(plan_limits::plan.eq(effective_plan(now))))
        .filter(assistants::user_id.eq(user_id))
        .select((
            Assistant::as_select(),
            effective_plan(now),
            PlanLimitsRow::as_select(),
        ))
        .first(conn)
        .await
        .optional()?)
}

/// How many agents each shard has in each state:
/// `(gateway_id, status, count)`, only non-zero combinations, in no
/// particular order.
pub async fn counts_by_shard(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<(String, String, i64)>, PersistenceError> {
    Ok(assistants::table
        .group_by((assistants::gateway_id, assistants::status))
        .select((
            assistants::gateway_id,
            assistants::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)
        .await?)
}

/// Changes the assistant's display name and/or voice (values checked by
/// the caller); `None` keeps a field. False when the user has no assistant
/// or both are `None` (nothing is written then).
pub async fn update_personality(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    display_name: Option<&str>,
    voice: Option<&str>,
) -> Result<bool, PersistenceError> {
    let target = assistants::table.filter(assistants::user_id.eq(user_id));
    let updated = match (display_name, voice) {
        (Some(name), Some(voice)) => {
            diesel::update(target)
                .set((
                    assistants::display_name.eq(name),
                    assistants::voice.eq(voice),
                ))
                .execute(conn)
                .await?
        }
        (Some(name), None) => {
            diesel::update(target)
                .set(assistants::display_name.eq(name))
                .execute(conn)
                .await?
        }
        (None, Some(voice)) => {
            diesel::update(target)
                .set(assistants::voice.eq(voice))
                .execute(conn)
                .await?
        }
        (None, None) => 0,
    };
    Ok(updated == 1)
}

/// Sets a just-placed agent's status from its residence: `active` while
/// bound to a slot, `hibernated` otherwise. Overwrites any status
/// (`provisioning`, `failed`); nothing happens when the user has no
/// assistant.
pub async fn mark_placed(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<(), PersistenceError> {
    diesel::sql_query(
        "UPDATE assistants SET status = CASE
             WHEN EXISTS (SELECT 1 FROM agent_slots s WHERE s.user_id = $1) THEN 'active'
             ELSE 'hibernated' END
         WHERE user_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .execute(conn)
    .await?;
    Ok(())
}
