//! Rows as diesel reads and writes them.
//!
//! `New*` structs are what an insert writes (columns left out take their
//! database defaults); the others are what a select reads. Times are UTC
//! instants (`timestamptz`); days are UTC calendar days. Strings with a
//! fixed set of values (statuses, plans, roles) are kept as the database's
//! text, checked by `CHECK` constraints, not as Rust enums.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::{
    assistants, daily_usage, password_reset_tokens, plan_limits, refresh_tokens, subscriptions,
    users,
};

/// A `users` row: an account.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    /// The user's id (random, set by the database).
    pub id: Uuid,
    /// The sign-in address as stored (trimmed and lower-cased by the
    /// application; unique whatever its case).
    pub email: String,
    /// The name the user gave, if any.
    pub name: Option<String>,
    /// The password hash (PHC string; argon2id, or an imported bcrypt hash
    /// until its next login); `None` for accounts without a password
    /// (e-mail code or Sign in with Apple).
    pub password_hash: Option<String>,
    /// The Sign in with Apple subject linked to the account, if any (unique).
    pub apple_sub: Option<String>,
    /// The avatar image URL the user set, if any.
    pub avatar_url: Option<String>,
    /// `active` or `suspended`; see [`User::is_active`].
    pub status: String,
    /// When the account was created (imported accounts keep the original's).
    pub created_at: DateTime<Utc>,
    /// Last change of the row, kept by a trigger.
    pub updated_at: DateTime<Utc>,
    /// IANA time zone (default `UTC`).
    pub timezone: String,
}

impl User {
    /// Whether the account may be used (status [`USER_ACTIVE`]); any other
    /// status (`suspended`) locks the user out.
    pub fn is_active(&self) -> bool {
        self.status == USER_ACTIVE
    }
}

/// The `users.status` of an account in good standing (the default).
pub const USER_ACTIVE: &str = "active";

/// A user to create, with [`create_account`](crate::queries::accounts::create_account).
/// The id, status (`active`), time zone (`UTC`) and times are the
/// database's defaults.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// The address, already normalised (trimmed, lower-cased).
    pub email: &'a str,
    /// The user's name; also the assistant's first display name.
    pub name: Option<&'a str>,
    /// The password hash, or `None` for a password-less account.
    pub password_hash: Option<&'a str>,
    /// The Sign in with Apple subject, for accounts created that way.
    pub apple_sub: Option<&'a str>,
}

/// A user's subscription as it stands. Read through
/// [`entitlement`](crate::queries::subscriptions::entitlement) or
/// [`profile::load`](crate::queries::profile::load), `plan` and `status`
/// are the effective ones at the time asked (a lapsed paid plan reads
/// `free` / `expired`), not necessarily the stored columns.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg))]
pub struct Subscription {
    /// The plan (a `plan_limits.plan`: `free`, `starter`, `pro`, `premium`).
    pub plan: String,
    /// `active`, `expired`, `refunded`, `revoked`, `grace_period` or
    /// `billing_retry`.
    pub status: String,
    /// When the paid period ends (renews or lapses); `None` for a plan that
    /// was never paid.
    pub current_period_end: Option<DateTime<Utc>>,
}

/// What a plan allows: a `plan_limits` row. Daily limits are per UTC day.
#[derive(Debug, Clone, Copy, Queryable, Selectable)]
#[diesel(table_name = plan_limits, check_for_backend(diesel::pg::Pg))]
pub struct PlanLimitsRow {
    /// Text messages per day.
    pub daily_text_messages: i32,
    /// Voice input per day, in minutes (usage is counted in seconds).
    pub daily_voice_input_minutes: i32,
    /// Characters of synthesized speech per day.
    pub daily_tts_characters: i32,
    /// Automation jobs a user may have at once.
    pub max_automation_jobs: i32,
}

/// A user's AI agent: an `assistants` row (one per user).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = assistants, check_for_backend(diesel::pg::Pg))]
pub struct Assistant {
    /// The row's id.
    pub id: Uuid,
    /// Whose agent it is.
    pub user_id: Uuid,
    /// `agent-<user uuid>`, derived from the user id only.
    pub agent_id: String,
    /// The name the user calls it by (1 to 100 characters).
    pub display_name: String,
    /// The voice it speaks with (a `heyclaw_domain::Voice` name).
    pub voice: String,
    /// The model it runs on, as the gateway names it.
    pub model: String,
    /// The gateway shard it lives on (`default` until placed).
    pub gateway_id: String,
    /// `provisioning`, `active` (bound to a slot), `hibernated` or `failed`;
    /// see the `STATUS_*` constants of [`queries::assistants`](crate::queries::assistants).
    pub status: String,
    /// When a turn was last recorded for it (database time); `None` before
    /// the first.
    pub last_active_at: Option<DateTime<Utc>>,
    /// Text messages recorded for it, ever (never decreases).
    pub message_count: i64,
}

/// An assistant row to create (with its account); voice, model, shard and
/// status (`provisioning`) are the database's defaults.
#[derive(Debug, Insertable)]
#[diesel(table_name = assistants)]
pub struct NewAssistant<'a> {
    /// Whose agent it is.
    pub user_id: Uuid,
    /// `agent-<user uuid>` (checked by the table).
    pub agent_id: &'a str,
    /// Its first display name.
    pub display_name: &'a str,
}

/// A user's durable usage counters for one UTC day (`daily_usage`); all
/// zero ([`Default`]) when nothing was recorded. Redis holds the hot copy
/// quotas are reserved against; this is what survives it.
#[derive(Debug, Clone, Copy, Default, Queryable, Selectable)]
#[diesel(table_name = daily_usage, check_for_backend(diesel::pg::Pg))]
pub struct DailyUsage {
    /// Text messages answered.
    pub text_messages: i32,
    /// Seconds of voice input transcribed.
    pub voice_input_seconds: i32,
    /// Seconds of speech produced.
    pub voice_output_seconds: i32,
    /// Characters sent to speech synthesis.
    pub tts_characters: i32,
}

/// A stored refresh token (its hash is not read back).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
pub struct RefreshToken {
    /// The token's row id (the parent id of the token rotated from it).
    pub id: Uuid,
    /// Whose token it is.
    pub user_id: Uuid,
    /// The login session it descends from; revoking the family logs that
    /// session out.
    pub family_id: Uuid,
    /// When it was rotated (single use); `None` while unused.
    pub used_at: Option<DateTime<Utc>>,
    /// When its family was revoked (logout, reuse, password reset); `None`
    /// while live.
    pub revoked_at: Option<DateTime<Utc>>,
    /// After this it is refused.
    pub expires_at: DateTime<Utc>,
}

/// A refresh token to store, by [`refresh_tokens::insert`](crate::queries::refresh_tokens::insert).
#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewRefreshToken<'a> {
    /// Whose token it is.
    pub user_id: Uuid,
    /// The hash of the opaque token (the token itself is never stored);
    /// unique.
    pub token_hash: &'a [u8],
    /// The login session: a new id for a login, the parent's for a rotation.
    pub family_id: Uuid,
    /// The token this one was rotated from (`None` for a new login).
    pub parent_id: Option<Uuid>,
    /// The device the client named, if any (at most 200 characters).
    pub device: Option<&'a str>,
    /// After this it is refused.
    pub expires_at: DateTime<Utc>,
}

/// A password-reset token to store, by
/// [`password_resets::insert`](crate::queries::password_resets::insert).
#[derive(Debug, Insertable)]
#[diesel(table_name = password_reset_tokens)]
pub struct NewPasswordResetToken<'a> {
    /// Whose password it resets.
    pub user_id: Uuid,
    /// The hash of the token mailed to the user (unique).
    pub token_hash: &'a [u8],
    /// After this it is refused.
    pub expires_at: DateTime<Utc>,
}

/// Everything `GET /user/me` shows, read by
/// [`profile::load`](crate::queries::profile::load) in one round of queries
/// (separate statements: one snapshot only inside a repeatable-read
/// transaction, except where noted).
#[derive(Debug, Clone)]
pub struct Profile {
    /// The account.
    pub user: User,
    /// The subscription as in force at the time asked.
    pub subscription: Subscription,
    /// The limits of that plan.
    pub limits: PlanLimitsRow,
    /// The user's assistant; `None` if the row is missing.
    pub assistant: Option<Assistant>,
    /// Text messages recorded for the assistant today, read together with
    /// `assistant.message_count` (one snapshot).
    pub assistant_recorded_today: i32,
    /// The durable usage counters of `usage_date` (Redis may be ahead).
    pub usage_today: DailyUsage,
    /// The UTC day the usage is for.
    pub usage_date: NaiveDate,
}

/// A chat session (a conversation in the app's history), without its
/// messages.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::chat_sessions, check_for_backend(diesel::pg::Pg))]
pub struct ChatSession {
    /// The session's id.
    pub id: Uuid,
    /// Whose session it is.
    pub user_id: Uuid,
    /// Its title (at most 200 characters; `New Chat` by default).
    pub title: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Last change of the session or its messages (database time); orders
    /// the list and picks the "most recent" session.
    pub updated_at: DateTime<Utc>,
}

/// A stored chat message.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::chat_messages, check_for_backend(diesel::pg::Pg))]
pub struct ChatMessage {
    /// The row's id (database-assigned, increasing).
    pub id: i64,
    /// Its place in the session, from 0; unique within the session.
    pub position: i32,
    /// The id the client gave it, kept verbatim for round-tripping; `None`
    /// for messages the server wrote.
    pub client_id: Option<String>,
    /// `user`, `assistant` or `system`.
    pub role: String,
    /// The text.
    pub content: String,
    /// Whether it was spoken (a voice turn) rather than typed.
    pub is_voice: bool,
}

/// A message as written: `client_id` is the client's own id, kept verbatim.
#[derive(Debug, Clone)]
pub struct NewChatMessage {
    /// The client's id for it (at most 100 characters), or `None`.
    pub client_id: Option<String>,
    /// `user`, `assistant` or `system` (others fail the table's check).
    pub role: String,
    /// The text.
    pub content: String,
    /// Whether it was spoken rather than typed.
    pub is_voice: bool,
}
