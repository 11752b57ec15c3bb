use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::subscriptions::effective_plan;
use crate::{
    PersistenceError,
    models::{Assistant, PlanLimitsRow},
    schema::{assistants, daily_usage, plan_limits, subscriptions, users},
};

pub const STATUS_PROVISIONING: &str = "provisioning";
pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_FAILED: &str = "failed";
/// Idle: out of the gateway's roster, workspace and memory kept on disk.
pub const STATUS_HIBERNATED: &str = "hibernated";

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
/// the plan in force at `now` and its limits.
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

/// An agent that belongs in a gateway's roster, with what its workspace needs.
#[derive(Debug, Clone, Queryable)]
pub struct RosterMember {
    pub user_id: Uuid,
    pub agent_id: String,
    pub user_name: Option<String>,
    pub display_name: String,
    pub model: String,
    pub status: String,
}

/// Every agent of `gateway_id` that should be in its roster: active ones and
/// those still being provisioned (hibernated agents are left out).
pub async fn roster(
    conn: &mut AsyncPgConnection,
    gateway_id: &str,
) -> Result<Vec<RosterMember>, PersistenceError> {
    Ok(assistants::table
        .inner_join(users::table)
        .filter(assistants::gateway_id.eq(gateway_id))
        .filter(assistants::status.eq_any([STATUS_ACTIVE, STATUS_PROVISIONING, STATUS_FAILED]))
        .select((
            assistants::user_id,
            assistants::agent_id,
            users::name,
            assistants::display_name,
            assistants::model,
            assistants::status,
        ))
        .order(assistants::created_at.asc())
        .load(conn)
        .await?)
}

/// How many agents each shard has in each state.
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

/// Marks agents active once they are in the roster.
pub async fn mark_active(
    conn: &mut AsyncPgConnection,
    user_ids: &[Uuid],
) -> Result<usize, PersistenceError> {
    Ok(diesel::update(
        assistants::table
            .filter(assistants::user_id.eq_any(user_ids))
            .filter(assistants::status.ne(STATUS_ACTIVE)),
    )
    .set(assistants::status.eq(STATUS_ACTIVE))
    .execute(conn)
    .await?)
}

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
