//! What a user sees of their own account (`GET /user/me`, `GET /user/usage`)
//! and what they may change of it (`PATCH /user/me`).

use chrono::Utc;
use heyclaw_domain::{UserId, check_avatar_url, clean_name, parse_time_zone};
use heyclaw_persistence::{
    PersistenceError, PgPool, RedisStore,
    models::Profile,
    queries::{
        accounts::{self, ProfileChange},
        profile,
    },
};

use crate::{AppError, quota, recorder::message_count_with_unrecorded};

/// The profile with today's usage. Days are UTC days: usage resets at 00:00 UTC.
///
/// Answered turns reach Postgres a moment after the reply (see
/// [`crate::recorder`]); Redis's counters are never behind, so today's text
/// messages and voice seconds are the larger of the two, and the agent's
/// message count includes the answered turns not yet recorded. Voice
/// seconds missing from Postgres are shown as input seconds. The plan is
/// the one in force now (system clock).
///
/// # Errors
///
/// [`AppError::NotFound`] when the user is gone; [`AppError::Storage`]
/// when Postgres or Redis fails.
pub async fn load(pg: &PgPool, redis: &RedisStore, user: UserId) -> Result<Profile, AppError> {
    let mut conn = pg.get().await.map_err(PersistenceError::from)?;
    let mut profile = profile::load(&mut conn, user.0, Utc::now())
        .await?
        .ok_or(AppError::NotFound("User not found"))?;
    let live_text = quota::used_today(redis, user, quota::Meter::TextMessages).await?;
    if let Some(assistant) = &mut profile.assistant {
        assistant.message_count = message_count_with_unrecorded(
            assistant.message_count,
            profile.assistant_recorded_today,
            live_text,
        );
    }
    if let Some(live) = live_text {
        let live = i32::try_from(live).unwrap_or(i32::MAX);
        profile.usage_today.text_messages = profile.usage_today.text_messages.max(live);
    }
    if let Some(live) = quota::used_today(redis, user, quota::Meter::TtsCharacters).await? {
        let live = i32::try_from(live).unwrap_or(i32::MAX);
        profile.usage_today.tts_characters = profile.usage_today.tts_characters.max(live);
    }
    if let Some(live) = quota::used_today(redis, user, quota::Meter::VoiceSeconds).await? {
        let live = i32::try_from(live).unwrap_or(i32::MAX);
        let usage = &mut profile.usage_today;
        if live
            > usage
                .voice_input_seconds
                .saturating_add(usage.voice_output_seconds)
        {
            // Not yet recorded in Postgres: show Redis's live count.
            usage.voice_input_seconds = live.saturating_sub(usage.voice_output_seconds);
        }
    }
    Ok(profile)
}

/// What a user asks to change of their profile.
#[derive(Debug, Default)]
pub struct ProfileUpdate<'a> {
    /// A new display name (trimmed; not empty).
    pub name: Option<&'a str>,
    /// A new avatar URL (https).
    pub avatar_url: Option<&'a str>,
    /// An IANA time zone name.
    pub timezone: Option<&'a str>,
}

/// Changes the user's name, avatar URL and/or time zone. At least one must
/// be given; the name follows signup's rules, the avatar must be an https
/// URL, the zone an IANA name. A new zone also reaches the agent's USER.md
/// (the shard's keeper writes it, on the change's notification or at the
/// next wake), so the agent knows it.
///
/// A field left `None` is kept; none can be cleared.
///
/// # Errors
///
/// [`AppError::Invalid`] when nothing is given or a field breaks its rule;
/// [`AppError::NotFound`] when the user is gone; [`AppError::Storage`].
pub async fn update(pg: &PgPool, user: UserId, update: &ProfileUpdate<'_>) -> Result<(), AppError> {
    if update.name.is_none() && update.avatar_url.is_none() && update.timezone.is_none() {
        return Err(AppError::invalid("No valid fields to update"));
    }
    let name = match update.name {
        Some(raw) => Some(
            clean_name(Some(raw))
                .map_err(|err| AppError::invalid(err.to_string()))?
                .ok_or_else(|| AppError::invalid("Name cannot be empty"))?,
        ),
        None => None,
    };
    let avatar_url = update
        .avatar_url
        .map(check_avatar_url)
        .transpose()
        .map_err(|err| AppError::invalid(err.to_string()))?;
    let timezone = update
        .timezone
        .map(parse_time_zone)
        .transpose()
        .map_err(|err| AppError::invalid(err.to_string()))?;
    let change = ProfileChange {
        name: name.as_deref(),
        avatar_url: avatar_url.as_deref(),
        timezone: timezone.map(|tz| tz.name()),
    };
    let mut conn = pg.get().await.map_err(PersistenceError::from)?;
    if !accounts::update_profile(&mut conn, user.0, &change).await? {
        return Err(AppError::NotFound("User not found"));
    }
    Ok(())
}
