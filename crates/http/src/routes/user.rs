//! `/user`: the caller's profile, plan, usage and limits (`GET /me`,
//! `GET /usage`), profile changes (`PATCH /me`), account deletion.

use actix_web::{HttpResponse, delete, get, patch, web};
use chrono::{DateTime, Utc};
use heyclaw_app::profile::ProfileUpdate;
use heyclaw_persistence::models::{Assistant, DailyUsage, Profile};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    ApiError, AppState, AuthUser,
    openapi::{AuthFailures, BodyFailures, MessageBody, NotFound},
    routes::auth::MessageResponse,
};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Me {
    id: Uuid,
    email: String,
    name: Option<String>,
    avatar_url: Option<String>,
    created_at: DateTime<Utc>,
    plan: String,
    subscription_status: String,
    subscription_ends_at: Option<DateTime<Utc>>,
    agent: Option<AgentSummary>,
    usage: Usage,
    limits: Limits,
    /// What the app passes to StoreKit as `appAccountToken`: purchases that
    /// carry it can only be claimed by this account.
    app_account_token: Uuid,
    /// IANA time zone; automations run in it.
    timezone: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentSummary {
    agent_id: String,
    display_name: String,
    voice: String,
    message_count: i64,
}

impl From<Assistant> for AgentSummary {
    fn from(a: Assistant) -> Self {
        Self {
            agent_id: a.agent_id,
            display_name: a.display_name,
            voice: a.voice,
            message_count: a.message_count,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = DailyUsage)]
struct Usage {
    text_messages: i32,
    voice_seconds: i32,
    tts_characters: i32,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Limits {
    daily_text_messages: i32,
    daily_voice_input_minutes: i32,
    daily_tts_characters: i32,
}

impl From<heyclaw_persistence::models::PlanLimitsRow> for Limits {
    fn from(limits: heyclaw_persistence::models::PlanLimitsRow) -> Self {
        Self {
            daily_text_messages: limits.daily_text_messages,
            daily_voice_input_minutes: limits.daily_voice_input_minutes,
            daily_tts_characters: limits.daily_tts_characters,
        }
    }
}

fn me_body(profile: Profile) -> Me {
    Me {
        id: profile.user.id,
        email: profile.user.email,
        name: profile.user.name,
        avatar_url: profile.user.avatar_url,
        created_at: profile.user.created_at,
        plan: profile.subscription.plan,
        subscription_status: profile.subscription.status,
        subscription_ends_at: profile.subscription.current_period_end,
        agent: profile.assistant.map(AgentSummary::from),
        usage: usage_of(&profile.usage_today),
        limits: profile.limits.into(),
        app_account_token: profile.user.id,
        timezone: profile.user.timezone,
    }
}

fn usage_of(usage: &DailyUsage) -> Usage {
    Usage {
        text_messages: usage.text_messages,
        voice_seconds: usage
            .voice_input_seconds
            .saturating_add(usage.voice_output_seconds),
        tts_characters: usage.tts_characters,
    }
}

/// The caller's profile, plan, today's usage and limits.
#[utoipa::path(tag = "user", responses((status = 200, body = Me), AuthFailures, NotFound), security(("bearer" = [])))]
#[get("/me")]
async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let profile = heyclaw_app::profile::load(&state.pg, &state.redis, user.0.user_id).await?;
    // The app just opened: wake the agent before the first turn.
    state.agents.prewake(user.0.user_id);
    Ok(HttpResponse::Ok().json(me_body(profile)))
}

#[derive(Deserialize, ToSchema)]
struct ProfileChange {
    name: Option<String>,
    avatar_url: Option<String>,
    timezone: Option<String>,
}

/// Changes the name, avatar and/or time zone; answers the updated profile.
#[utoipa::path(tag = "user", request_body = ProfileChange,
    responses((status = 200, body = Me), BodyFailures, AuthFailures, NotFound), security(("bearer" = [])))]
#[patch("/me")]
async fn update_me(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ProfileChange>,
) -> Result<HttpResponse, ApiError> {
    heyclaw_app::profile::update(
        &state.pg,
        user.0.user_id,
        &ProfileUpdate {
            name: body.name.as_deref(),
            avatar_url: body.avatar_url.as_deref(),
            timezone: body.timezone.as_deref(),
        },
    )
    .await?;
    let profile = heyclaw_app::profile::load(&state.pg, &state.redis, user.0.user_id).await?;
    Ok(HttpResponse::Ok().json(me_body(profile)))
}

#[derive(Serialize, ToSchema)]
struct UsageReport {
    plan: String,
    usage: Usage,
    limits: Limits,
}

/// Today's usage and the plan's limits: the same numbers as `/user/me`.
#[utoipa::path(tag = "user", responses((status = 200, body = UsageReport), AuthFailures, NotFound), security(("bearer" = [])))]
#[get("/usage")]
async fn usage_report(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let profile = heyclaw_app::profile::load(&state.pg, &state.redis, user.0.user_id).await?;
    Ok(HttpResponse::Ok().json(UsageReport {
        plan: profile.subscription.plan,
        usage: usage_of(&profile.usage_today),
        limits: profile.limits.into(),
    }))
}

/// Deletes the account and everything it owns (its agent too).
#[utoipa::path(tag = "user", responses((status = 200, body = MessageBody), AuthFailures, NotFound), security(("bearer" = [])))]
#[delete("/me")]
async fn delete_me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    state.accounts.delete_account(&user.0).await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Account deleted",
    }))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/user")
            .service(me)
            .service(update_me)
            .service(usage_report)
            .service(delete_me),
    );
}
