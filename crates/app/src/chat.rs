//! Chat sessions: strictly per user — another user's session answers
//! exactly like a missing one (and so does a missing or malformed id: the
//! handlers pass `None`), always [`AppError::NotFound`] "Session not found".
//!
//! These are the app's stored conversations. Answered turns are appended to
//! the user's latest session by the [`crate::recorder`], not here.

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

/// The chat-session use cases. Cheap to clone.
#[derive(Clone)]
pub struct Chats {
    pg: PgPool,
}

/// A session and its messages, in order.
pub type SessionWithMessages = (ChatSession, Vec<ChatMessage>);

impl Chats {
    /// Chat sessions stored in `pg`.
    pub fn new(pg: PgPool) -> Self {
        Self { pg }
    }

    async fn conn(&self) -> Result<heyclaw_persistence::PooledPg, AppError> {
        Ok(self.pg.get().await.map_err(PersistenceError::from)?)
    }

    /// The user's sessions, most recently updated first, without their
    /// messages.
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`].
    pub async fn list(&self, user: UserId) -> Result<Vec<ChatSession>, AppError> {
        Ok(chat::list_sessions(&mut *self.conn().await?, user.0).await?)
    }

    /// A new, empty session titled "New Chat".
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`].
    pub async fn create(&self, user: UserId) -> Result<ChatSession, AppError> {
        Ok(chat::create_session(&mut *self.conn().await?, user.0, chat::NEW_SESSION_TITLE).await?)
    }

    /// One of the user's sessions with its messages.
    ///
    /// # Errors
    ///
    /// [`AppError::NotFound`] when `id` is `None` or names no session of
    /// the user's; [`AppError::Storage`].
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

    /// Sets the title and/or replaces the whole message list, atomically.
    /// Any update — even one giving neither — makes this the most recently
    /// updated session, the one answered turns are appended to. Returns the
    /// session as it is now.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for an empty or too long title
    /// ([`MAX_TITLE_CHARS`]), more than [`MAX_MESSAGES`] messages, a role
    /// other than `user`, `assistant` or `system`, a content over
    /// [`MAX_CONTENT_CHARS`] or a client id over [`MAX_CLIENT_ID_CHARS`];
    /// [`AppError::NotFound`] as for [`Chats::get`]; [`AppError::Storage`].
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

    /// Deletes one of the user's sessions and its messages.
    ///
    /// # Errors
    ///
    /// [`AppError::NotFound`] as for [`Chats::get`]; [`AppError::Storage`].
    pub async fn delete(&self, user: UserId, id: Option<Uuid>) -> Result<(), AppError> {
        let id = id.ok_or(NOT_FOUND)?;
        if chat::delete_session(&mut *self.conn().await?, user.0, id).await? {
            Ok(())
        } else {
            Err(NOT_FOUND)
        }
    }

    /// The last [`RECENT_MESSAGES`] messages of the most recently updated
    /// session, with its id; `None` when the user has no session.
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`].
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
