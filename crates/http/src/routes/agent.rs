//! `/agent`: send a message, status, gateway health, personality.

use actix_web::{HttpResponse, get, patch, post, web};
use heyclaw_domain::Action;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    ApiError, AppState, AuthUser,
    openapi::{
        AgentFailures, AuthFailures, BodyFailures, LimitReached, MessageBody as Message, NotFound,
    },
    routes::{auth::MessageResponse, user::AgentSummary},
};

#[derive(Deserialize, ToSchema)]
#[schema(as = TextTurn)]
struct MessageBody {
    /// What the user says (1–8,000 characters).
    text: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = MessageUsage)]
struct Usage {
    /// Today's messages, this one included.
    messages_used: u64,
    messages_limit: u64,
}

/// An action marker of the reply, for the app (e.g. `reminder` with
/// `[delaySeconds, title, body]`).
#[derive(Serialize, ToSchema)]
pub(crate) struct ActionView {
    #[serde(rename = "type")]
    kind: String,
    params: Vec<String>,
}

impl From<Action> for ActionView {
    fn from(action: Action) -> Self {
        Self {
            kind: action.kind,
            params: action.params,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct MessageReply {
    /// The reply, without action markers.
    response: String,
    actions: Vec<ActionView>,
    usage: Usage,
}

/// One text turn with the user's agent. A unit of today's quota is
/// reserved first and given back if the agent fails.
#[utoipa::path(
    tag = "agent",
    request_body = MessageBody,
    responses(
        (status = 200, body = MessageReply, headers(
            ("X-RateLimit-Plan" = String, description = "The caller's plan"),
            ("X-RateLimit-Text-Remaining" = String, description = "Messages left today"))),
        BodyFailures, AuthFailures, NotFound, LimitReached, AgentFailures
    ),
    security(("bearer" = []))
)]
#[post("/message")]
async fn message(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<MessageBody>,
) -> Result<HttpResponse, ApiError> {
    let reply = state
        .messaging
        .send(user.0.user_id, body.text.as_deref().unwrap_or_default())
        .await?;
    let remaining = reply.messages_limit.saturating_sub(reply.messages_used);
    Ok(HttpResponse::Ok()
        .insert_header(("X-RateLimit-Plan", reply.plan.clone()))
        .insert_header(("X-RateLimit-Text-Remaining", remaining.to_string()))
        .json(MessageReply {
            response: reply.response,
            actions: reply.actions.into_iter().map(ActionView::from).collect(),
            usage: Usage {
                messages_used: reply.messages_used,
                messages_limit: reply.messages_limit,
            },
        }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AgentStatus)]
struct Status {
    /// `running` (resident in a slot of its gateway), or the agent's state:
    /// `provisioning`, `hibernated`, `failed`.
    agent_status: String,
    #[serde(flatten)]
    agent: AgentSummary,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NoAgent {
    /// `none`.
    agent_status: &'static str,
    message: &'static str,
}

/// The caller's agent.
#[utoipa::path(
    tag = "agent",
    responses(
        (status = 200, description = "The agent, or `agentStatus: none` without one", body = inline(StatusAnswer)),
        AuthFailures
    ),
    security(("bearer" = []))
)]
#[get("/status")]
async fn status(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let Some(status) = state.agents.status(&state.redis, user.0.user_id).await? else {
        return Ok(HttpResponse::Ok().json(NoAgent {
            agent_status: "none",
            message: "No assistant found for this account",
        }));
    };
    let agent_status = if status.resident {
        "running".to_owned()
    } else {
        status.assistant.status.clone()
    };
    Ok(HttpResponse::Ok().json(Status {
        agent_status,
        agent: status.assistant.into(),
    }))
}

/// What `/agent/status` answers.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[expect(
    dead_code,
    reason = "describes the answer's two shapes for the document"
)]
enum StatusAnswer {
    Agent(Status),
    None(NoAgent),
}

#[derive(Serialize, ToSchema)]
struct Health {
    healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// Whether the caller's gateway shard answers (5 s).
#[utoipa::path(
    tag = "agent",
    responses((status = 200, body = Health), AuthFailures, NotFound),
    security(("bearer" = []))
)]
#[get("/health")]
async fn health(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let healthy = state.agents.shard_healthy_for(user.0.user_id).await?;
    Ok(HttpResponse::Ok().json(Health {
        healthy,
        reason: (!healthy).then_some("unreachable"),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PersonalityBody {
    /// 1–100 characters.
    display_name: Option<String>,
    /// One of alloy, ash, coral, echo, fable, nova, onyx, sage, shimmer.
    voice: Option<String>,
}

/// Renames the agent and/or changes its voice.
#[utoipa::path(
    tag = "agent",
    request_body = PersonalityBody,
    responses((status = 200, body = Message), BodyFailures, AuthFailures, NotFound),
    security(("bearer" = []))
)]
#[patch("/personality")]
async fn personality(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<PersonalityBody>,
) -> Result<HttpResponse, ApiError> {
    state
        .agents
        .update_personality(
            user.0.user_id,
            body.display_name.as_deref(),
            body.voice.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(MessageResponse { message: "Updated" }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Provisioned {
    /// `ok`, `created`, `resumed` or `recreated`.
    status: &'static str,
    agent_id: String,
}

/// Makes sure the caller's agent exists and the gateway serves it.
#[utoipa::path(
    tag = "agent",
    responses((status = 200, body = Provisioned), AuthFailures, NotFound, AgentFailures),
    security(("bearer" = []))
)]
#[post("/provision")]
async fn provision(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let (outcome, agent) = state.agents.ensure(user.0.user_id).await?;
    Ok(HttpResponse::Ok().json(Provisioned {
        status: outcome.as_str(),
        agent_id: agent.to_string(),
    }))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/agent")
            .service(message)
            .service(status)
            .service(health)
            .service(personality)
            .service(provision)
            .service(crate::routes::voice::voice),
    );
}
