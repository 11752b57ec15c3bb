//! Rows as diesel reads and writes them.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::{
    assistants, daily_usage, password_reset_tokens, plan_limits, refresh_tokens, subscriptions,
    users,
};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub apple_sub: Option<String>,
    pub avatar_url: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// IANA time zone (default `UTC`).
    pub timezone: String,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == USER_ACTIVE
    }
}

pub const USER_ACTIVE: &str = "active";

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub apple_sub: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg))]
pub struct Subscription {
    pub plan: String,
    pub status: String,
    pub current_period_end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Queryable, Selectable)]
#[diesel(table_name = plan_limits, check_for_backend(diesel::pg::Pg))]
pub struct PlanLimitsRow {
    pub daily_text_messages: i32,
    pub daily_voice_input_minutes: i32,
    pub daily_tts_characters: i32,
    pub max_automation_jobs: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = assistants, check_for_backend(diesel::pg::Pg))]
pub struct Assistant {
    pub id: Uuid,
    pub user_id: Uuid,
    pub agent_id: String,
    pub display_name: String,
    pub voice: String,
    pub model: String,
    pub gateway_id: String,
    pub status: String,
    pub last_active_at: Option<DateTime<Utc>>,
    pub message_count: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = assistants)]
pub struct NewAssistant<'a> {
    pub user_id: Uuid,
    pub agent_id: &'a str,
    pub display_name: &'a str,
}

#[derive(Debug, Clone, Copy, Default, Queryable, Selectable)]
#[diesel(table_name = daily_usage, check_for_backend(diesel::pg::Pg))]
pub struct DailyUsage {
    pub text_messages: i32,
    pub voice_input_seconds: i32,
    pub voice_output_seconds: i32,
    pub tts_characters: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
pub struct RefreshToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewRefreshToken<'a> {
    pub user_id: Uuid,
    pub token_hash: &'a [u8],
    pub family_id: Uuid,
    /// The token this one was rotated from (`None` for a new login).
    pub parent_id: Option<Uuid>,
    pub device: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = password_reset_tokens)]
pub struct NewPasswordResetToken<'a> {
    pub user_id: Uuid,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

/// Everything `GET /user/me` shows, read in one round of queries.
#[derive(Debug, Clone)]
pub struct Profile {
    pub user: User,
    pub subscription: Subscription,
    pub limits: PlanLimitsRow,
    pub assistant: Option<Assistant>,
    /// Text messages recorded for the assistant today, read together with
    /// `assistant.message_count` (one snapshot).
    pub assistant_recorded_today: i32,
    pub usage_today: DailyUsage,
    pub usage_date: NaiveDate,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::chat_sessions, check_for_backend(diesel::pg::Pg))]
pub struct ChatSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::chat_messages, check_for_backend(diesel::pg::Pg))]
pub struct ChatMessage {
    pub id: i64,
    pub position: i32,
    pub client_id: Option<String>,
    pub role: String,
    pub content: String,
    pub is_voice: bool,
}

/// A message as written: `client_id` is the client's own id, kept verbatim.
#[derive(Debug, Clone)]
pub struct NewChatMessage {
    pub client_id: Option<String>,
    pub role: String,
    pub content: String,
    pub is_voice: bool,
}
