//! Chat sessions: strictly per user — another user's session answers
//! exactly like a missing one.

use heyclaw_domain::UserId;
use heyclaw_persistence::{
    PersistenceError, PgPool,
    models::{ChatMessage, ChatSession, NewChatMessage},
    queries::chat,
};
use uuid::Uuid;

use crate::AppError;

/// Most messages a session may hold.
pub const MAX_MESSAGES: usize = 2000;
/// Longest message content, in characters.
pub const MAX_CONTENT_CHARS: usize = 32_000;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest client-chosen message id (its JSON text).
pub const MAX_CLIENT_ID_CHARS: usize = 100;
/// How many messages `recent` returns.
pub const RECENT_MESSAGES: i64 = 10;

const NOT_FOUND: AppError = AppError::NotFound("Session not found");

#[derive(Clone)]
pub struct Chats {
    pg: PgPool,
}

pub type SessionWithMessages = (ChatSession, Vec<ChatMessage>);

impl Chats {
    pub fn new(pg: PgPool) -> Self {
        Self { pg }
    }

    async fn conn(&self) -> Result<heyclaw_persistence::PooledPg, AppError> {
        Ok(self.pg.get().await.map_err(PersistenceError::from)?)
    }

    pub async fn list(&self, user: UserId) -> Result<Vec<ChatSession>, AppError> {
        Ok(chat::list_sessions(&mut *self.conn().await?, user.0).await?)
    }

    pub async fn create(&self, user: UserId) -> Result<ChatSession, AppError> {
        Ok(chat::create_session(&mut *self.conn().await?, user.0, chat::NEW_SESSION_TITLE).await?)
    }

    pub async fn get(
        &self,
        user: UserId,
        id: Option<Uuid>,
    ) -> Result<SessionWithMessages, AppError> {
        let id = id.ok_or(NOT_FOUND)?;
        chat::get_session(&mut *self.conn().await?, user.0, id)
            .await?
            .ok_or(NOT_FOUND)
    }

    /// Sets the title and/or replaces the whole message list.
    pub async fn update(
        &self,
        user: UserId,
        id: Option<Uuid>,
        title: Option<&str>,
        messages: Option<Vec<NewChatMessage>>,
    ) -> Result<SessionWithMessages, AppError> {
        let id = id.ok_or(NOT_FOUND)?;
        let title = title.map(str::trim);
        if let Some(title) = title {
            if title.is_empty() {
                return Err(AppError::invalid("Title cannot be empty"));
            }
            if title.chars().count() > MAX_TITLE_CHARS {
                return Err(AppError::invalid("Title must be at most 200 characters"));
            }
        }
        if let Some(messages) = &messages {
            check_messages(messages)?;
        }
        chat::update_session(
            &mut *self.conn().await?,
            user.0,
            id,
            title,
            messages.as_deref(),
        )
        .await?
        .ok_or(NOT_FOUND)
    }

    pub async fn delete(&self, user: UserId, id: Option<Uuid>) -> Result<(), AppError> {
        let id = id.ok_or(NOT_FOUND)?;
        if chat::delete_session(&mut *self.conn().await?, user.0, id).await? {
            Ok(())
        } else {
            Err(NOT_FOUND)
        }
    }

    /// The last messages of the most recently updated session.
    pub async fn recent(&self, user: UserId) -> Result<Option<(Uuid, Vec<ChatMessage>)>, AppError> {
        Ok(chat::recent_messages(&mut *self.conn().await?, user.0, RECENT_MESSAGES).await?)
    }
}

fn check_messages(messages: &[NewChatMessage]) -> Result<(), AppError> {
    if messages.len() > MAX_MESSAGES {
        return Err(AppError::invalid(format!(
            "A session holds at most {MAX_MESSAGES} messages"
        )));
    }
    for (index, message) in messages.iter().enumerate() {
        if !matches!(message.role.as_str(), "user" | "assistant" | "system") {
            return Err(AppError::invalid(format!(
                "messages[{index}].role must be user, assistant or system"
            )));
        }
        if message.content.chars().count() > MAX_CONTENT_CHARS {
            return Err(AppError::invalid(format!(
                "messages[{index}].content must be at most {MAX_CONTENT_CHARS} characters"
            )));
        }
        if message
            .client_id
            .as_ref()
            .is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS)
        {
            return Err(AppError::invalid(format!(
                "messages[{index}].id is too long"
            )));
        }
    }
    Ok(())
}
