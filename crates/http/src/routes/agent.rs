//! `/agent`: send a message, status, gateway health, personality.

use actix_web::{HttpResponse, get, patch, post, web};
use heyclaw_domain::Action;
use serde::{Deserialize, Serialize};

use crate::{
    ApiError, AppState, AuthUser,
    routes::{auth::MessageResponse, user::AgentSummary},
};

#[derive(Deserialize)]
struct MessageBody {
    text: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    messages_used: u64,
    messages_limit: u64,
}

#[derive(Serialize)]
struct MessageReply {
    response: String,
    actions: Vec<Action>,
    usage: Usage,
}

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
            actions: reply.actions,
            usage: Usage {
                messages_used: reply.messages_used,
                messages_limit: reply.messages_limit,
            },
        }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    agent_status: String,
    #[serde(flatten)]
    agent: AgentSummary,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NoAgent {
    agent_status: &'static str,
    message: &'static str,
}

#[get("/status")]
async fn status(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let Some(status) = state.agents.status(&state.redis, user.0.user_id).await? else {
        return Ok(HttpResponse::Ok().json(NoAgent {
            agent_status: "none",
            message: "No assistant found for this account",
        }));
    };
    let agent_status = if status.in_roster && status.assistant.status == "active" {
        "running".to_owned()
    } else {
        status.assistant.status.clone()
    };
    Ok(HttpResponse::Ok().json(Status {
        agent_status,
        agent: status.assistant.into(),
    }))
}

#[derive(Serialize)]
struct Health {
    healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

#[get("/health")]
async fn health(state: web::Data<AppState>, _user: AuthUser) -> HttpResponse {
    let healthy = state.agents.gateway_healthy().await;
    HttpResponse::Ok().json(Health {
        healthy,
        reason: (!healthy).then_some("unreachable"),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonalityBody {
    display_name: Option<String>,
    voice: Option<String>,
}

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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Provisioned {
    status: &'static str,
    agent_id: String,
}

/// Makes sure the caller's agent exists and the gateway serves it.
#[post("/provision")]
async fn provision(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let (outcome, agent) = state.agents.ensure(user.0.user_id).await?;
    Ok(HttpResponse::Ok().json(Provisioned {
        status: outcome.as_str(),
        agent_id: agent.to_string(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/agent")
            .service(message)
            .service(status)
            .service(health)
            .service(personality)
            .service(provision)
            .service(crate::routes::voice::voice),
    );
}
