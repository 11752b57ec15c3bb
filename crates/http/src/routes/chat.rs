//! `/chat`: the user's chat sessions. Another user's session is a 404,
//! exactly like a missing one (and so is an id that is not a UUID).

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use heyclaw_persistence::models::{ChatMessage, ChatSession, NewChatMessage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    ApiError, AppState, AuthUser, extract,
    openapi::{AuthFailures, BodyFailures, MessageBody, NotFound},
    routes::auth::MessageResponse,
};

/// A session update may carry a long conversation.
const SESSION_BODY_LIMIT: usize = 4 * 1024 * 1024;

#[derive(Serialize, ToSchema)]
struct SessionSummary {
    id: Uuid,
    title: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    title: String,
    messages: Vec<MessageOut>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct MessageOut {
    /// The client's own id, returned as it was sent (string or number);
    /// the server's id for messages the server wrote.
    id: Value,
    role: String,
    content: String,
    is_voice: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct MessageIn {
    /// The client's id for the message (a string or a number).
    id: Option<Value>,
    role: String,
    content: String,
    #[serde(default)]
    is_voice: bool,
}

#[derive(Deserialize, ToSchema)]
struct UpdateBody {
    title: Option<String>,
    messages: Option<Vec<MessageIn>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Recent {
    messages: Vec<MessageOut>,
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<Uuid>,
}

fn message_out(message: ChatMessage) -> MessageOut {
    let id = message
        .client_id
        .as_deref()
        .and_then(|raw| serde_json::from_str(raw).ok())
        .unwrap_or_else(|| Value::String(message.id.to_string()));
    MessageOut {
        id,
        role: message.role,
        content: message.content,
        is_voice: message.is_voice,
    }
}

fn session_row(session: ChatSession, messages: Vec<ChatMessage>) -> SessionRow {
    SessionRow {
        id: session.id,
        user_id: session.user_id,
        title: session.title,
        messages: messages.into_iter().map(message_out).collect(),
        created_at: session.created_at,
        updated_at: session.updated_at,
    }
}

fn message_in(index: usize, message: MessageIn) -> Result<NewChatMessage, ApiError> {
    let client_id = match message.id {
        None | Some(Value::Null) => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id.to_string()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("messages[{index}].id must be a string or a number"),
            ));
        }
    };
    Ok(NewChatMessage {
        client_id,
        role: message.role,
        content: message.content,
        is_voice: message.is_voice,
    })
}

/// A path id that is not a UUID names no session.
fn session_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

/// The latest messages of the newest session (text and voice turns are
/// written through).
#[utoipa::path(tag = "chat", responses((status = 200, body = Recent), AuthFailures),
    security(("bearer" = []))
)]
#[get("/recent")]
async fn recent(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let body = match state.chats.recent(user.0.user_id).await? {
        Some((session_id, messages)) => Recent {
            messages: messages.into_iter().map(message_out).collect(),
            source: "session",
            session_id: Some(session_id),
        },
        None => Recent {
            messages: Vec::new(),
            source: "none",
            session_id: None,
        },
    };
    Ok(HttpResponse::Ok().json(body))
}

/// The caller's sessions, newest first.
#[utoipa::path(tag = "chat", responses((status = 200, body = Vec<SessionSummary>), AuthFailures),
    security(("bearer" = []))
)]
#[get("/sessions")]
async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let sessions: Vec<SessionSummary> = state
        .chats
        .list(user.0.user_id)
        .await?
        .into_iter()
        .map(|s| SessionSummary {
            id: s.id,
            title: s.title,
            created_at: s.created_at,
            updated_at: s.updated_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(sessions))
}

/// A new, empty session.
#[utoipa::path(tag = "chat", responses((status = 200, body = SessionRow), AuthFailures),
    security(("bearer" = []))
)]
#[post("/sessions")]
async fn create(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let session = state.chats.create(user.0.user_id).await?;
    Ok(HttpResponse::Ok().json(session_row(session, Vec::new())))
}

/// One session with its messages.
#[utoipa::path(tag = "chat",
    params(("id" = String, Path, description = "The session id (a UUID)")),
    responses((status = 200, body = SessionRow), AuthFailures, NotFound),
    security(("bearer" = []))
)]
#[get("/sessions/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (session, messages) = state.chats.get(user.0.user_id, session_id(&id)).await?;
    Ok(HttpResponse::Ok().json(session_row(session, messages)))
}

/// Replaces a session's title and/or messages.
#[utoipa::path(tag = "chat",
    params(("id" = String, Path, description = "The session id (a UUID)")),
    request_body = UpdateBody,
    responses((status = 200, body = SessionRow), BodyFailures, AuthFailures, NotFound),
    security(("bearer" = []))
)]
#[put("/sessions/{id}")]
async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    body: web::Json<UpdateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let messages = match body.messages {
        Some(messages) => Some(
            messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| message_in(i, m))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let (session, messages) = state
        .chats
        .update(
            user.0.user_id,
            session_id(&id),
            body.title.as_deref(),
            messages,
        )
        .await?;
    Ok(HttpResponse::Ok().json(session_row(session, messages)))
}

/// Deletes a session.
#[utoipa::path(tag = "chat",
    params(("id" = String, Path, description = "The session id (a UUID)")),
    responses((status = 200, body = MessageBody), AuthFailures, NotFound),
    security(("bearer" = []))
)]
#[delete("/sessions/{id}")]
async fn delete_one(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.chats.delete(user.0.user_id, session_id(&id)).await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Session deleted",
    }))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/chat")
            .app_data(extract::json_config(SESSION_BODY_LIMIT))
            .app_data(web::PayloadConfig::new(SESSION_BODY_LIMIT))
            .service(recent)
            .service(list)
            .service(create)
            .service(get_one)
            .service(update)
            .service(delete_one),
    );
}
